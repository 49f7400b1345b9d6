"""`agentbatch batches submit`: a request file (JSON, JSONL, a job object) or an OpenAI Batch
API input file becomes a job, after pre-flight of the providers it needs."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from agentbatch.app import AgentBatch
from agentbatch.cli.common import (
    console,
    database_option,
    err_console,
    json_option,
    load_json_file,
    print_json,
    with_app,
)
from agentbatch.cli.job_report import print_estimate
from agentbatch.cli.job_view import exit_for, report_job, wait_for_job
from agentbatch.cli.selectors_cmd import agent_ids_of
from agentbatch.cli.submit_selection import (
    check_no_selection,
    job_limits,
    limit_options,
    selection_options,
    selection_spec,
)
from agentbatch.errors import InvalidInput
from agentbatch.interop.openai_batch import looks_like_openai_batch
from agentbatch.services.openai_input import plan_openai_job
from agentbatch.services.preflight import preflight


def _requests_from(data: Any) -> tuple[list[Any] | None, dict[str, Any]]:
    """A file holds a list of {agent_id, messages}, JSONL of them, or a full job object
    (with ``requests``, or with ``agents`` / ``selector`` and ``messages``: no list)."""
    if isinstance(data, dict) and ("agents" in data or "selector" in data):
        return None, dict(data)
    if isinstance(data, dict) and "requests" in data:
        extra = {k: v for k, v in data.items() if k != "requests"}
        return list(data["requests"]), extra
    if isinstance(data, dict):
        return [data], {}
    if isinstance(data, list):
        return data, {}
    raise InvalidInput("the file must hold {agent_id, messages} objects (JSON list or JSONL)")


@click.command("submit")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@selection_options
@click.option("--max-steps", default=None, type=int, help="Model calls per agent (default 10).")
@click.option(
    "--script",
    "script_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON script for scripted/ models (job option).",
)
@click.option("--callback-url", default=None)
@click.option(
    "--template",
    "template_file",
    type=click.Path(exists=True, dir_okay=False),
    help="OpenAI batch files: an agent spec (JSON, as `agents create --file`) for custom_ids "
    "that name no agent; each gets a new agent named by its custom_id.",
)
@click.option(
    "--model",
    "template_model",
    default=None,
    help="OpenAI batch files: create missing agents on this model (a minimal template).",
)
@click.option(
    "--no-preflight",
    is_flag=True,
    help="Skip the reachability check of the providers (their configuration is still checked).",
)
@limit_options
@click.option(
    "--wait", "wait_", is_flag=True, help="Run a worker here and wait for the job to end."
)
@database_option
@json_option
@with_app
async def submit(
    app: AgentBatch,
    file: str | None,
    max_steps: int | None,
    script_file: str | None,
    callback_url: str | None,
    template_file: str | None,
    template_model: str | None,
    no_preflight: bool,
    wait_: bool,
    as_json: bool,
    **selection: Any,
) -> None:
    """Submit a job from FILE: JSON or JSONL of {agent_id, messages}, a job object, or an
    OpenAI Batch API input file ({custom_id, method, url, body}; custom_id = agent id or name).

    Without FILE, a job for the agents a selection picks (--tag, --any-tag, --agent,
    --selector), each sent --message ({{agent.name}}, {{agent.metadata.KEY}}, ...):

    agentbatch batches submit --tag sleeptime --message "Consolidate, {{agent.name}}."

    --estimate prints the first step's input tokens and cost and sends nothing.
    With --wait: exits 0 when the job completed, 3 when it failed, 4 when cancelled."""
    if file is None:
        selection["agent_ids"] = await agent_ids_of(app, selection["agent_ids"])
        await _run(
            app,
            selection_spec(selection),
            {},
            max_steps,
            script_file,
            callback_url,
            wait_,
            as_json,
            selection,
        )
        return
    check_no_selection(selection)
    data = load_json_file(file)
    if looks_like_openai_batch(data):
        if selection.get("estimate"):
            raise InvalidInput(
                "--estimate takes a request file or a selection, not an OpenAI batch file"
            )
        template = _template(template_file, template_model)
        rows = data if isinstance(data, list) else [data]
        plan = await plan_openai_job(app.db, app.org_id, rows, template)
        for warning in plan.warnings:
            err_console.print(f"[yellow]note:[/yellow] {escape(warning)}")
        if template is not None and not plan.new_agents:
            err_console.print(
                "[yellow]note:[/yellow] every custom_id names an existing agent: --template "
                "and --model (which only shape agents the file creates) are not used"
            )
        models = set(plan.models) | {a["model"] for a in plan.new_agents if "model" in a}
        await preflight(app.registry, models, probe=not no_preflight)
        job_spec: dict[str, Any] = {"metadata": plan.metadata}
        created = await create_agents(app, plan.new_agents)
        job_spec["requests"] = plan.bind(created)
    else:
        if template_file or template_model:
            raise InvalidInput("--template and --model apply to OpenAI batch input files only")
        requests, extra = _requests_from(data)
        job_spec = dict(extra)
        if requests is not None:
            requests = await agents_by_name(app, requests)
            job_spec["requests"] = requests
            models = await request_models(app, requests)
            await preflight(app.registry, models, probe=not no_preflight)
        created = {}
    await _run(
        app, job_spec, created, max_steps, script_file, callback_url, wait_, as_json, selection
    )


async def _run(
    app: AgentBatch,
    job_spec: dict[str, Any],
    created: dict[str, str],
    max_steps: int | None,
    script_file: str | None,
    callback_url: str | None,
    wait_: bool,
    as_json: bool,
    selection: dict[str, Any],
) -> None:
    job_spec.update(job_limits(selection))
    if max_steps is not None:
        job_spec["max_steps"] = max_steps
    if script_file:
        job_spec.setdefault("options", {})["script"] = load_json_file(script_file)
    if callback_url:
        job_spec["callback_url"] = callback_url
    if selection.get("estimate"):
        result = await app.estimates.estimate_job(app.org_id, job_spec)
        print_json(result) if as_json else print_estimate(result)
        return
    try:
        job = await app.jobs.create_job(app.org_id, job_spec)
    except BaseException:
        for agent_id in created.values():  # nothing stays behind when the job is refused
            await app.agents.delete_agent(app.org_id, agent_id)
        raise
    if not as_json:
        made = f", {len(created)} new agent(s)" if created else ""
        if job.get("skipped_agents"):
            made += f", {job['skipped_agents']} busy agent(s) left out"
        console.print(
            f"submitted job [bold]{job['id']}[/bold] with {job['request_count']} request(s){made}"
        )
    if wait_:
        job = await wait_for_job(app, job["id"], run_worker=True, quiet=as_json)
        await report_job(app, job, as_json=as_json)
        exit_for(job)
    else:
        if as_json:
            print_json(job)
        err_console.print(
            "a worker runs the job: keep `agentbatch worker` running (or `agentbatch serve "
            f"--with-worker`), or run `agentbatch batches wait {job['id']}` to run one here "
            "and watch"
        )


def _template(path: str | None, model: str | None) -> dict[str, Any] | None:
    if path is None and model is None:
        return None
    template = load_json_file(path) if path else {}
    if not isinstance(template, dict):
        raise InvalidInput("--template must hold one JSON object (an agent spec)")
    template.pop("name", None)
    if model:
        template["model"] = model
    return template


async def create_agents(app: AgentBatch, specs: list[dict[str, Any]]) -> dict[str, str]:
    """Create the agents (name -> id); on a failure, the ones made so far are removed."""
    created: dict[str, str] = {}
    try:
        for spec in specs:
            created[spec["name"]] = (await app.agents.create_agent(app.org_id, spec))["id"]
    except BaseException:
        for agent_id in created.values():
            await app.agents.delete_agent(app.org_id, agent_id)
        raise
    return created


async def agents_by_name(app: AgentBatch, requests: list[Any]) -> list[Any]:
    """Requests may name their agent (``agent_id`` holding a unique agent name)."""
    from agentbatch.store import lookup

    refs: list[str] = [
        r["agent_id"]
        for r in requests
        if isinstance(r, dict) and isinstance(r.get("agent_id"), str)
    ]
    async with app.db.read() as conn:
        known = await lookup.existing_agent_ids(conn, app.org_id, refs)
        names = await lookup.agents_named(conn, app.org_id, [r for r in refs if r not in known])
    out = []
    for r in requests:
        ref = r.get("agent_id") if isinstance(r, dict) else None
        if isinstance(ref, str) and ref not in known and len(names.get(ref, [])) == 1:
            r = {**r, "agent_id": names[ref][0]}
        out.append(r)
    return out


async def request_models(app: AgentBatch, requests: list[Any]) -> set[str]:
    """The model handles of the agents a request list names (unknown ids are left to the
    job's own validation, which lists them)."""
    from agentbatch.store.agents_repo import agent_models

    ids = [
        r["agent_id"]
        for r in requests
        if isinstance(r, dict) and isinstance(r.get("agent_id"), str)
    ]
    async with app.db.read() as conn:
        return set((await agent_models(conn, app.org_id, ids)).values())
