"""The benchmark's model server: the test suite's OpenAI-compatible fake in benchmark mode.

A deterministic reply of 20 streamed chunks with zero delay, no request recording, so nearly
all the time measured is the server under test.
"""

from __future__ import annotations

import argparse

import uvicorn

from tests.support.fake_openai import FakeOpenAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(FakeOpenAI.benchmark(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
