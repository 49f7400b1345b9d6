"""Pure data: messages, model requests/responses, tool rules, statuses. No I/O."""
