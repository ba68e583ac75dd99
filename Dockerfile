# ReasonScope CPU image: the embedded default model is pulled at build time; the app serves on 8501.
#   docker build -t reasonscope .                          (builds the Story bundle too: ~40 min on 2 CPU cores)
#   docker build --build-arg BUILD_STORY=0 -t reasonscope .  (skip it; the app offers "rebuild" later)
#   docker run -p 8501:8501 -e REASONSCOPE_PUBLIC=1 -e REASONSCOPE_PASSWORD=... reasonscope
# CUDA: docker build --build-arg BASE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 \
#         --build-arg TORCH_SPEC=torch --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX="https://download.pytorch.org/whl/cpu"
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 REASONSCOPE_HOME=/data/reasonscope

RUN (command -v python3 >/dev/null || (apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv)) \
 && useradd --create-home --uid 1000 scope && mkdir -p /data/reasonscope /app && chown -R scope /data /app
WORKDIR /app
COPY --chown=scope pyproject.toml README.md ./
COPY --chown=scope core ./core
COPY --chown=scope app ./app
COPY --chown=scope sample_data ./sample_data
COPY --chown=scope .streamlit ./.streamlit
USER scope
RUN python3 -m venv /app/.venv \
 && /app/.venv/bin/pip install "${TORCH_SPEC}" --index-url "${TORCH_INDEX}" \
 && /app/.venv/bin/pip install -e . \
 && /app/.venv/bin/reasonscope model pull
# The stakeholder story opens at once in a container: its bundle (probe, an AlphaAlign demo-cpu run, audit,
# projections) is built here, at image build time, on the embedded model.
ARG BUILD_STORY=1
RUN if [ "${BUILD_STORY}" = "1" ]; then /app/.venv/bin/reasonscope story build; fi
ENV PATH=/app/.venv/bin:$PATH REASONSCOPE_PUBLIC=1
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').status == 200 else 1)"
CMD ["streamlit", "run", "app/streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501"]
