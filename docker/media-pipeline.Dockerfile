# The workload image: lanes, faces, faces-serve and stream commands, plus the bundled sample footage.
# Build from the repository root: docker build -f docker/media-pipeline.Dockerfile .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/media-pipeline \
    MEDIA_PIPELINE_CACHE_DIR=/home/pipeline/.cache/media_pipeline

# dlib-bin is a prebuilt wheel of dlib; face_recognition goes in without its dependencies so pip
# does not try to compile the `dlib` source distribution (about 10 minutes).
COPY media_pipeline/requirements.txt /tmp/media-pipeline-requirements.txt
RUN pip install -r /tmp/media-pipeline-requirements.txt \
    && pip install --no-deps face-recognition==1.3.0 \
    && rm /tmp/media-pipeline-requirements.txt

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin pipeline \
    && mkdir -p /work /home/pipeline/.cache/media_pipeline \
    && chown -R pipeline:pipeline /work /home/pipeline

COPY media_pipeline /opt/media-pipeline/media_pipeline

USER 10001:10001
WORKDIR /work
EXPOSE 8080 8090

ENTRYPOINT ["python", "-m", "media_pipeline"]
CMD ["--help"]
