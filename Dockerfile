# Afterglow (余温) — slim, non-root image; the SQLite file and uploads live on the /data volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY locales ./locales
RUN pip install --no-cache-dir --prefix=/install ".[ocr]"

FROM python:3.11-slim
# A CJK font is only needed to render Chinese text in generated images; OCR itself needs none.
RUN useradd --create-home --uid 10001 afterglow \
    && mkdir /data && chown afterglow:afterglow /data
COPY --from=build /install /usr/local
USER afterglow
ENV AFTERGLOW_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
# SIGTERM gives in-flight replies up to 8 s and exits within Docker's 10 s grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["afterglow"]
CMD ["run"]
