# The service image: every role runs `feeschedule <command>` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY services ./services
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin feeschedule \
    && mkdir -p /acl \
    && chown feeschedule /acl

# /acl: the ACL file acl-init writes for Redis (a named volume takes this owner on first use).
USER 10001
EXPOSE 8000
ENTRYPOINT ["feeschedule"]
CMD ["--help"]
