# The in-cluster OpenAI-compatible test model server of the kind end-to-end suite: the runtime
# image (it already has FastAPI and uvicorn) plus the test server module.
ARG RUNTIME_IMAGE=ghcr.io/kube-agentos/runtime:e2e
FROM ${RUNTIME_IMAGE}
COPY tests/__init__.py /opt/e2e/tests/__init__.py
COPY tests/support/ /opt/e2e/tests/support/
ENV PYTHONPATH=/opt/e2e
EXPOSE 8000
ENTRYPOINT ["python", "-m", "tests.support.fake_openai", "--host", "0.0.0.0", "--port", "8000"]
CMD []
