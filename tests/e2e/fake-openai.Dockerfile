# The in-cluster OpenAI-compatible test model server of the kind end-to-end suite: the runtime
# image (it already has uvicorn) plus the test server module and pytest, which the module imports
# for its fixtures.
ARG RUNTIME_IMAGE=ghcr.io/kube-agentos/runtime:e2e
FROM ${RUNTIME_IMAGE}
USER 0
RUN pip install --no-cache-dir pytest==8.3.4
USER 10001:10001
COPY tests/__init__.py /opt/e2e/tests/__init__.py
COPY tests/support/ /opt/e2e/tests/support/
ENV PYTHONPATH=/opt/e2e
EXPOSE 8000
ENTRYPOINT ["python", "-m", "tests.support.fake_openai", "--host", "0.0.0.0", "--port", "8000"]
CMD []
