# The service image: every role runs `feeschedule <command>` (see docker-compose.yml).
# Stage 1 builds the wheel with the fee worker's hot path compiled (setup.py, FEES_COMPILE=1):
# the code the benchmark measures. mypyc type-checks what it compiles, so the dependencies go
# in first and the build runs unisolated.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY contracts ./contracts
COPY services ./services
RUN pip install . "mypy>=1.10" "types-PyYAML>=6.0" "setuptools>=77" \
    && FEES_COMPILE=1 pip wheel --no-build-isolation --no-deps --wheel-dir /wheels .

# Stage 2: the image, with the compiled wheel and no compiler.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY --from=0 /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin feeschedule \
    && mkdir -p /acl \
    && chown feeschedule /acl

# /acl: the ACL file acl-init writes for Redis (a named volume takes this owner on first use).
USER 10001
EXPOSE 8000
ENTRYPOINT ["feeschedule"]
CMD ["--help"]
