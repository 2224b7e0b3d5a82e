#!/usr/bin/env bash
# Regenerate every lockfile under fixtures/ with the real lock tools (pinned versions,
# each in its own venv), save each tool's own read-back under expected/, then rewrite the
# package index and file hosts to registry.invalid so no real host name is committed.
#
# Usage: scripts/regen-fixtures.sh            (needs python3.11 and access to the index)
#   TOOLS=dir   where the tool venvs live (default /tmp/krakend-lock-tools)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FIX=$ROOT/fixtures
TOOLS=${TOOLS:-/tmp/krakend-lock-tools}
PY=${PYTHON:-python3.11}
PLACEHOLDER=https://registry.invalid

# The tools must see the plain default index, not this machine's pip configuration.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT \
  UV_INDEX UV_INDEX_URL UV_DEFAULT_INDEX UV_EXTRA_INDEX_URL UV_FIND_LINKS || true
export UV_PYTHON=$PY UV_NO_PROGRESS=1 POETRY_VIRTUALENVS_IN_PROJECT=true \
  PIPENV_VENV_IN_PROJECT=1 PIPENV_YES=1 PIPENV_NOSPIN=1 PDM_CHECK_UPDATE=false \
  PDM_NON_INTERACTIVE=1 PIPENV_IGNORE_VIRTUALENVS=1
unset VIRTUAL_ENV || true

log() { echo "--- $*" >&2; }

tool() {  # tool NAME PIP-SPEC... : a venv per tool, with pinned versions
  local name=$1; shift
  if [ ! -f "$TOOLS/$name/.ok" ] || [ "$(cat "$TOOLS/$name/.ok")" != "$*" ]; then
    log "installing $*"
    rm -rf "${TOOLS:?}/$name"
    "$PY" -m venv "$TOOLS/$name"
    "$TOOLS/$name/bin/pip" install -q "$@"
    echo "$*" > "$TOOLS/$name/.ok"
  fi
}
tool uv uv==0.13.9
tool poetry poetry==2.5.1 poetry-plugin-export==1.9.0
tool poetry18 poetry==1.8.5
tool poetry11 poetry==1.1.15
tool pdm 'pdm[locked]==2.29.3'
tool piptools pip-tools==7.6.2 pip==26.3
tool pip pip==26.3
tool pipenv pipenv==2026.10.3
UV=$TOOLS/uv/bin/uv
PIP=$TOOLS/pip/bin/pip

# The real index, as pip itself defines its default (so this file names no host).
read -r INDEX FILES_HOST < <("$TOOLS/pip/bin/python" -c \
  'from pip._internal.models.index import PyPI as P; print(P.simple_url, P.file_storage_domain)')
INDEX_HOST=${INDEX#https://}; INDEX_HOST=${INDEX_HOST%%/*}

rewrite() {  # rewrite FILE...: real hosts -> registry.invalid
  sed -i -e "s#https://$FILES_HOST/#$PLACEHOLDER/#g" -e "s#$INDEX#$PLACEHOLDER/simple#g" \
    -e "s#$INDEX_HOST#registry.invalid#g" -e "s#$FILES_HOST#registry.invalid#g" "$@"
}

workdir() {  # workdir SRC: a scratch copy of a project with the real index put in
  local w; w=$(mktemp -d "${TMPDIR:-/tmp}/krakend-fixture.XXXXXX")
  cp -r "$1"/. "$w"/
  rm -rf "$w/expected" "$w"/lock-* "$w"/*.lock "$w"/pylock*.toml "$w/requirements.txt"
  find "$w" -maxdepth 1 \( -name pyproject.toml -o -name Pipfile \) \
    -exec sed -i "s#$PLACEHOLDER/simple#$INDEX#g" {} +
  echo "$w"
}

pip_report() {  # pip_report OUT ARGS...: what pip would install here, as name==version lines
  local out=$1; shift
  "$PIP" install -q --dry-run --ignore-installed --report "$out.json" "$@" >/dev/null
  "$TOOLS/pip/bin/python" - "$out.json" > "$out" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
rows = sorted(f"{i['metadata']['name'].lower()}=={i['metadata']['version']}" for i in report["install"])
print("\n".join(rows))
EOF
  rm "$out.json"
}

pylock_report() {  # pylock_report OUT LOCK: pip's read-back of a pylock, without the project
  # pip cannot hash-check the project's own directory entry, so that entry is left out.
  "$TOOLS/pip/bin/python" - "$2" > pylock.readback.toml <<'EOF'
import re, sys
blocks = re.split(r"(?m)^(?=\[\[packages\]\]$)", open(sys.argv[1]).read())
keep = (b for b in blocks if not re.search(r"(?m)^(directory = |\[packages\.directory\])", b))
print("".join(keep))
EOF
  pip_report "$1" -r pylock.readback.toml
  rm pylock.readback.toml
}

uv_lock() {  # uv_lock WORK DEST: uv.lock plus `uv export` read-backs
  (cd "$1" && "$UV" lock -q)
  cp "$1/uv.lock" "$2/"
  (cd "$1" && "$UV" export -q --frozen --no-hashes --no-dev --no-emit-project \
    --format requirements-txt) > "$2/expected/uv.txt"
  (cd "$1" && "$UV" export -q --frozen --no-hashes --all-extras --all-groups \
    --no-emit-project --format requirements-txt) > "$2/expected/uv-all.txt"
}

poetry_lock() {  # poetry_lock BIN WORK DEST [SUFFIX]: poetry.lock plus `poetry export`
  local bin=$1 w=$2 dest=$3 sfx=${4:-}
  (cd "$w" && rm -f poetry.lock && "$bin" lock -n -q)
  mkdir -p "$dest"
  cp "$w/poetry.lock" "$dest/"
  case $dest in */lock-*)  # a complete project folder: the lock and its pyproject
    cp "$w/pyproject.toml" "$dest/" && rewrite "$dest/pyproject.toml";; esac
  (cd "$w" && "$bin" export -n --without-hashes -f requirements.txt) > "$dest/expected/poetry$sfx.txt"
  if "$bin" export --help 2>/dev/null | grep -c -e "--all-extras" >/dev/null; then
    (cd "$w" && "$bin" export -n --without-hashes -f requirements.txt --with dev --all-extras)
  else  # Poetry 1.1: --dev and one -E per extra (only csv-export is locked with it)
    (cd "$w" && "$bin" export -n --without-hashes -f requirements.txt --dev -E fast)
  fi > "$dest/expected/poetry$sfx-all.txt"
}

# --- gateway: uv -------------------------------------------------------------------
log gateway
G=$FIX/gateway; W=$(workdir "$G"); mkdir -p "$G/expected"
uv_lock "$W" "$G"
rm -rf "$W"

# --- geo-lookup: every tool -----------------------------------------------------------
log geo-lookup
P=$FIX/plugins/geo-lookup; W=$(workdir "$P"); mkdir -p "$P/expected"
uv_lock "$W" "$P"
(cd "$W" && "$UV" export -q --frozen --all-extras --all-groups --format pylock.toml \
  -o pylock.uv.toml)
cp "$W/pylock.uv.toml" "$P/"
poetry_lock "$TOOLS/poetry/bin/poetry" "$W" "$P"
(cd "$W" && "$TOOLS/pdm/bin/pdm" lock -q -G :all)
cp "$W/pdm.lock" "$P/"
(cd "$W" && "$TOOLS/pdm/bin/pdm" export --no-hashes --prod -o "$P/expected/pdm.txt")
(cd "$W" && "$TOOLS/pdm/bin/pdm" export --no-hashes -G :all -o "$P/expected/pdm-all.txt")
(cd "$W" && "$PIP" lock -q . -o pylock.toml)
cp "$W/pylock.toml" "$P/"
(cd "$W" && pylock_report "$P/expected/pylock.txt" pylock.toml)
(cd "$W" && pylock_report "$P/expected/pylock-uv.txt" pylock.uv.toml)
(cd "$W" && "$TOOLS/piptools/bin/pip-compile" -q --generate-hashes --extra yaml \
  --no-strip-extras -o requirements.txt pyproject.toml)
cp "$W/requirements.txt" "$P/"
(cd "$W" && pip_report "$P/expected/requirements.txt" --no-deps -r requirements.txt)
(cd "$W" && "$TOOLS/pipenv/bin/pipenv" lock --python "$(command -v "$PY")" >/dev/null)
cp "$W/Pipfile.lock" "$P/"
(cd "$W" && "$TOOLS/pipenv/bin/pipenv" requirements) > "$P/expected/pipenv.txt"
(cd "$W" && "$TOOLS/pipenv/bin/pipenv" requirements --dev-only) > "$P/expected/pipenv-dev.txt"
rm -rf "$W"

# --- csv-export: poetry 2.x, 1.8 (lock-version 2.0), 1.1 (lock-version 1.1), pip-compile --
log csv-export
P=$FIX/plugins/csv-export; W=$(workdir "$P"); mkdir -p "$P/expected" "$P/lock-2.0/expected" \
  "$P/lock-1.1/expected"
poetry_lock "$TOOLS/poetry/bin/poetry" "$W" "$P"
poetry_lock "$TOOLS/poetry18/bin/poetry" "$W" "$P/lock-2.0"
# Poetry 1.1 predates source priorities: mark the source as the default one instead.
sed -i 's/^priority = "primary"/default = true/' "$W/pyproject.toml"
poetry_lock "$TOOLS/poetry11/bin/poetry" "$W" "$P/lock-1.1"
(cd "$W" && "$TOOLS/piptools/bin/pip-compile" -q -o requirements.txt requirements.in)
cp "$W/requirements.txt" "$P/"
(cd "$W" && pip_report "$P/expected/requirements.txt" --no-deps -r requirements.txt)
rm -rf "$W"

# --- win-agent: uv (two urllib3 versions), poetry, uv's pylock export, uv pip compile ----
log win-agent
P=$FIX/plugins/win-agent; W=$(workdir "$P"); mkdir -p "$P/expected"
uv_lock "$W" "$P"
(cd "$W" && "$UV" export -q --frozen --all-extras --all-groups --format pylock.toml \
  -o pylock.toml)
cp "$W/pylock.toml" "$P/"
(cd "$W" && pylock_report "$P/expected/pylock.txt" pylock.toml)
# A universal requirements.txt: both urllib3 pins, each behind its marker.
(cd "$W" && "$UV" pip compile -q --universal --python-version 3.11 --generate-hashes \
  -o requirements.txt pyproject.toml)
cp "$W/requirements.txt" "$P/"
(cd "$W" && pip_report "$P/expected/requirements.txt" --no-deps -r requirements.txt)
poetry_lock "$TOOLS/poetry/bin/poetry" "$W" "$P"
rm -rf "$W"

# --- zig-runner: uv; ziglang publishes wheels only (no sdist) ---------------------------
log zig-runner
P=$FIX/plugins/zig-runner; W=$(workdir "$P"); mkdir -p "$P/expected"
uv_lock "$W" "$P"
rm -rf "$W"

# --- no real host may remain ----------------------------------------------------------
mapfile -t generated < <(find "$FIX" -type f \( -name '*.lock' -o -name 'pylock*.toml' \
  -o -name 'requirements.txt' -o -path '*/expected/*' \))
rewrite "${generated[@]}"
if grep -rl -e "$INDEX_HOST" -e "$FILES_HOST" "$FIX"; then
  echo "a real host name is left in the files above" >&2; exit 1
fi
log done
