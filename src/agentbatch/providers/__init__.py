"""Model providers: one small batch interface, adapters, the scripted model, emulators."""
