"""Agno's own AgentOS serving the benchmark agent (run with benchmarks/.venv-agno/bin/python).

The same agent as ours: one OpenAIChat model on the local model server, history of the last 3
runs, sessions in a SQLite file.
"""

from __future__ import annotations

import argparse

import uvicorn
from agno.agent import Agent
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat
from agno.os import AgentOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-url", required=True)
    parser.add_argument("--db-file", required=True)
    args = parser.parse_args()
    agent = Agent(
        id="bench",
        name="Bench",
        model=OpenAIChat(id="fake-model", base_url=args.model_url, api_key="benchmark-key"),
        instructions=["Answer briefly."],
        db=SqliteDb(db_file=args.db_file),
        add_history_to_context=True,
        num_history_runs=3,
    )
    app = AgentOS(id="bench-os", agents=[agent]).get_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
