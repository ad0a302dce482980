# One image for the API and the worker; the command chooses which.
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY offhours offhours
COPY workflows workflows
COPY activities activities
COPY operations operations
COPY api api
COPY tools tools
COPY pipelines pipelines
COPY migrations migrations
COPY templates templates
COPY workers.py ./
# Editable: the code runs from /app, next to templates/ (pages, emails, static files) and migrations/.
RUN pip install --no-cache-dir -e '.[postgres]' && useradd --create-home offhours
USER offhours
ENV OFFHOURS_ENVIRONMENT=production
CMD ["offhours", "api", "--host", "0.0.0.0", "--port", "8000"]
