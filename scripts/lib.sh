# Shared helpers of the project's scripts. Sourced, not run.
# shellcheck shell=bash

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing. Needs root; apt-get update runs
# at most once per script, and only when something is missing.
ensure_apt() {
    local missing
    read -r -a missing <<<"$(apt_missing "$@")"
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run as root to install them)"
    say "installing ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Which of the named Debian packages are not installed, space-separated.
apt_missing() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    echo "${missing[*]}"
}

# apt-get update, at most once per script (and its children).
apt_update_once() {
    [ -z "${BYTESBOX_APT_UPDATED:-}" ] || return 0
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    export BYTESBOX_APT_UPDATED=1
}

# The Rust toolchain comes from rustup; a new shell may not have it on PATH.
ensure_cargo() {
    local home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$home/.cargo/bin/cargo" ]; then
        export PATH="$home/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is not installed; install Rust with rustup (https://rustup.rs)"
}

# What the sandboxes and their tests use on the host: the compilers and
# runtimes of the language catalog that boxes run (Debian's, on /usr),
# libc's static archive for the image test, what a terminal's shell
# offers in a box (vim, less; top comes with procps), and pip, which
# boxes with egress install packages with (docs/egress.md).
ensure_runtime_packages() {
    ensure_apt ca-certificates gcc g++ libc6-dev python3 python3-pip procps iproute2 \
        default-jdk-headless nodejs sqlite3 bash vim less
    ensure_git
    ensure_sql_servers
    ensure_notebook_packages
    ensure_language_servers
}

# git in the box (docs/git.md): the native backend's boxes see the host's
# /usr, so the terminal and the IDE's Source Control panel use the host's git.
ensure_git() {
    ensure_apt git
}

# What notebook kernels run in a box (docs/notebooks.md): Debian's ipykernel,
# and numpy, pandas and matplotlib ready to import in a cell; and nbformat,
# whose schema the web tests validate the IDE's saved notebooks against.
ensure_notebook_packages() {
    ensure_apt python3-ipykernel python3-numpy python3-pandas python3-matplotlib python3-nbformat
}

# The language servers the IDE's completion and diagnostics come from
# (docs/language-servers.md), run in a session's box: python-lsp-server
# with pyflakes (errors) and autopep8 (formatting) for Python, clangd (with
# its built-in clang-format) for C and C++.
ensure_language_servers() {
    ensure_apt python3-pylsp python3-pyflakes python3-pycodestyle python3-autopep8 clangd
    ensure_typescript_language_server
}

# JavaScript's and TypeScript's language server: typescript-language-server
# over TypeScript's tsserver, which Debian does not package; from npm, under
# /usr/local (which boxes see read-only). It brings `tsc` too, which the
# TypeScript runtime compiles with.
ensure_typescript_language_server() {
    command -v typescript-language-server >/dev/null 2>&1 && command -v tsc >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || die "typescript-language-server is missing (run as root to install it)"
    command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm
    say "installing typescript-language-server and typescript (npm, under /usr/local)"
    npm install --global --prefix /usr/local --no-audit --no-fund --loglevel=error \
        typescript-language-server@4 typescript@5
}

# The database servers that the `mysql` and `postgresql` runtimes start
# inside a session's box: Debian's MariaDB (server and client) and
# PostgreSQL. Boxes run servers of their own, so the host gets none:
# the packages' own services are kept from starting while they install
# (policy-rc.d answers 101), then disabled for later boots (and stopped
# where systemd runs them). ensure_postgres starts the host cluster the store's
# tests use, on purpose and only for them. python3-psycopg and
# python3-pymysql are the client libraries of the structured results'
# client (crates/runtimes/sql_results.py, docs/sql.md).
ensure_sql_servers() {
    local packages=(mariadb-server mariadb-client postgresql python3-psycopg python3-pymysql zstd)
    [ -n "$(apt_missing "${packages[@]}")" ] || return 0
    local policy=/usr/sbin/policy-rc.d placed=""
    if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        placed=1
    fi
    ensure_apt "${packages[@]}"
    [ -z "$placed" ] || rm -f "$policy"
    # The packages enable their services for the next boot too: disabled
    # (and stopped where systemd runs); without systemd, their SysV links.
    local service
    for service in mariadb postgresql; do
        if [ -d /run/systemd/system ]; then
            systemctl disable --now "$service.service" >/dev/null 2>&1 || true
        elif command -v systemctl >/dev/null 2>&1; then
            systemctl disable "$service.service" >/dev/null 2>&1 || true
        else
            update-rc.d "$service" disable >/dev/null 2>&1 || true
        fi
    done
}

# Node.js and npm for the web IDE's build (Vite needs Node 20.19 or newer).
ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        ensure_apt nodejs npm
    fi
    local version
    version="$(node -p 'process.versions.node')"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
        || die "the web IDE's build needs Node.js 20.19 or newer; this machine has $version"
}

# Builds the web IDE into web/dist (npm ci from the committed lock file, then
# the Vite build, which prints the gzipped size of the initial JavaScript).
build_web() {
    ensure_node
    # The notebook tests: nbformat's schema (Vitest), ipykernel and friends (browser).
    if [ "$(id -u)" -eq 0 ]; then ensure_notebook_packages; fi
    say "web: npm ci"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    say "web: build"
    (cd web && npm run --silent build)
}

# Debian's Chromium, which the browser tests drive (no browser download).
ensure_chromium() {
    ensure_apt chromium fonts-dejavu-core
}

# The Docker engine for the docker backend: Debian's docker.io, and dockerd
# started in the background when nothing answers on its socket (CI machines
# and containers have no init system to start it). Its log goes to
# /var/log/bytesbox-dockerd.log.
ensure_docker() {
    ensure_apt docker.io debootstrap ca-certificates
    if docker_answers; then return 0; fi
    [ "$(id -u)" -eq 0 ] || die "the Docker daemon is not running; start it (systemctl start docker) or run as root"
    # A dockerd that was killed leaves its pid file, and a new one refuses
    # to start while it is there: remove it when no dockerd has that pid.
    local pid_file=/var/run/docker.pid
    if [ -f "$pid_file" ] && [ "$(cat "/proc/$(cat "$pid_file")/comm" 2>/dev/null)" != dockerd ]; then
        say "removing the pid file of a dockerd that is gone"
        rm -f "$pid_file"
    fi
    say "starting dockerd in the background"
    nohup dockerd >/var/log/bytesbox-dockerd.log 2>&1 &
    local waited=0
    until docker_answers; do
        sleep 0.5
        waited=$((waited + 1))
        [ "$waited" -lt 120 ] || die "dockerd did not answer within 60 s; see /var/log/bytesbox-dockerd.log"
    done
}

docker_answers() {
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# The web IDE's tests, run last by scripts/test: npm ci, Vitest, the build
# (with its initial-JavaScript budget), then the browser suite (Debian's
# Chromium through playwright-core) against the `bytesbox` binary built
# here and now, never an older one. In CI (CI set) a missing prerequisite
# (root, Chromium, the binary, the build) is a failure; elsewhere the
# browser tests say SKIPPED.
test_web() {
    if [ "$(id -u)" -ne 0 ] && [ -n "${CI:-}" ]; then
        die "the browser tests must run as root in CI (the native sandbox needs it)"
    fi
    ensure_node
    # The notebook tests: nbformat's schema (Vitest), ipykernel and friends (browser).
    if [ "$(id -u)" -eq 0 ]; then ensure_notebook_packages; fi
    say "web: npm ci"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    say "web: unit tests (vitest)"
    (cd web && npx --no-install vitest run)
    say "web: build"
    (cd web && npm run --silent build)
    say "web: browser tests (Chromium, bytesbox serve with the native backend)"
    # The SQL test picks MariaDB and PostgreSQL (web/e2e/sql.test.mjs).
    if [ "$(id -u)" -eq 0 ]; then ensure_chromium; ensure_sql_servers; fi
    ensure_cargo
    cargo build --workspace --bins --locked
    local target
    target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
    (cd web && BYTESBOX_BIN="$target/debug/bytesbox" node --test --test-concurrency=1 e2e/*.test.mjs)
}

# PostgreSQL for the store's tests: Debian's postgresql, its cluster started
# in the background (as the postgres user, through pg_ctlcluster) when
# nothing answers, and a fresh database, `bytesbox_test` or the name given
# (dropped and made again, so every run applies the migrations from
# scratch; the benchmarks name their own, so that a benchmark never drops
# the database of tests running at the same time), owned by the role
# `bytesbox_test`. Exports BYTESBOX_TEST_POSTGRES_URL. Needs root. The
# server's log goes to the cluster's usual log under /var/log/postgresql.
ensure_postgres() {
    local database="${1:-bytesbox_test}"
    [[ "$database" =~ ^[a-z_][a-z0-9_]*$ ]] || die "ensure_postgres: not a plain database name: $database"
    ensure_apt postgresql
    local cluster version name port
    cluster="$(pg_lsclusters --no-header | head -n 1)"
    if [ -z "$cluster" ]; then
        version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
        say "creating a PostgreSQL $version cluster"
        pg_createcluster "$version" main >/dev/null
        cluster="$(pg_lsclusters --no-header | head -n 1)"
    fi
    read -r version name port _ <<<"$cluster"
    if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
        say "starting PostgreSQL $version/$name in the background"
        pg_ctlcluster "$version" "$name" start
        local waited=0
        until pg_isready -q -h 127.0.0.1 -p "$port"; do
            sleep 0.5
            waited=$((waited + 1))
            [ "$waited" -lt 60 ] || die "PostgreSQL did not answer within 30 s; see /var/log/postgresql/"
        done
    fi
    runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $database WITH (FORCE);
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bytesbox_test') THEN
        CREATE ROLE bytesbox_test LOGIN PASSWORD 'bytesbox_test';
    END IF;
END \$\$;
CREATE DATABASE $database OWNER bytesbox_test;
SQL
    export BYTESBOX_TEST_POSTGRES_URL="postgres://bytesbox_test:bytesbox_test@127.0.0.1:$port/$database"
}

# HAProxy (Debian's package) for the fleet test: several `bytesbox serve`
# nodes behind the shipped deploy/haproxy/haproxy.cfg. The test starts its
# own haproxy process with that file; the package's service is not used.
# Exports BYTESBOX_TEST_HAPROXY, the path of the haproxy binary.
ensure_haproxy() {
    ensure_apt haproxy
    BYTESBOX_TEST_HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
    [ -x "$BYTESBOX_TEST_HAPROXY" ] || die "haproxy is not installed"
    export BYTESBOX_TEST_HAPROXY
}

# An S3-compatible endpoint for the store's S3 tests: moto's server (PyPI's
# `moto[server]`, pinned below) in a Python venv under the target directory
# (target/s3-mock-venv, built once and kept), started in the background on
# a free port of 127.0.0.1 when none of ours answers (its log and pid go to
# target/s3-mock.log and target/s3-mock.pid), with the bucket
# `bytesbox-test` made through its API. Exports only test variables, never
# the AWS_* ones the server reads: BYTESBOX_TEST_S3_URL (a fresh prefix per
# run; each test adds its own below it), BYTESBOX_TEST_S3_ENDPOINT,
# BYTESBOX_TEST_S3_ACCESS_KEY_ID, BYTESBOX_TEST_S3_SECRET_ACCESS_KEY and
# BYTESBOX_TEST_S3_REGION. moto accepts any credentials; the tests pass
# these to the S3 client exactly as a real deployment's would be.
BYTESBOX_MOTO_VERSION="5.2.5"
ensure_s3_mock() {
    local target venv log pidfile portfile
    target="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
    venv="$target/s3-mock-venv"
    log="$target/s3-mock.log"
    pidfile="$target/s3-mock.pid"
    portfile="$target/s3-mock.port"
    ensure_apt python3 python3-venv
    local installed=""
    if [ -x "$venv/bin/moto_server" ]; then
        installed="$("$venv/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')"
    fi
    if [ "$installed" != "$BYTESBOX_MOTO_VERSION" ]; then
        say "s3 mock: installing moto[server]==$BYTESBOX_MOTO_VERSION into $venv"
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$BYTESBOX_MOTO_VERSION"
    fi
    local port=""
    if [ -f "$pidfile" ] && [ -f "$portfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
        && s3_mock_answers "$venv" "$(cat "$portfile")"; then
        port="$(cat "$portfile")"
    else
        port="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        say "s3 mock: starting moto_server on 127.0.0.1:$port in the background"
        nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
        echo $! >"$pidfile"
        echo "$port" >"$portfile"
        local waited=0
        until s3_mock_answers "$venv" "$port"; do
            kill -0 "$(cat "$pidfile")" 2>/dev/null || die "moto_server exited; see $log"
            sleep 0.2
            waited=$((waited + 1))
            [ "$waited" -lt 150 ] || die "moto_server did not answer within 30 s; see $log"
        done
    fi
    # Make the bucket (an existing one of ours is fine) through the S3 API.
    "$venv/bin/python" - "$port" <<'PY' || die "could not create the test bucket; see $log"
import sys, urllib.error, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/bytesbox-test", method="PUT")
try:
    urllib.request.urlopen(request, timeout=10).close()
except urllib.error.HTTPError as error:
    if b"BucketAlreadyOwnedByYou" not in error.read():
        raise
PY
    export BYTESBOX_TEST_S3_URL="s3://bytesbox-test/run-$(date +%s)-$$"
    export BYTESBOX_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export BYTESBOX_TEST_S3_ACCESS_KEY_ID="bytesbox-test"
    export BYTESBOX_TEST_S3_SECRET_ACCESS_KEY="bytesbox-test-secret"
    export BYTESBOX_TEST_S3_REGION="us-east-1"
}

# jupyter-server from PyPI (pinned below), for the test in which it uses
# Bytesbox as its Kernel Gateway: in a Python venv under the target
# directory (target/jupyter-server-venv, built once and kept). Exports
# BYTESBOX_TEST_JUPYTER_SERVER, the path of its `jupyter-server` command.
BYTESBOX_JUPYTER_SERVER_VERSION="2.21.1"
ensure_jupyter_server() {
    local target venv installed=""
    target="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
    venv="$target/jupyter-server-venv"
    ensure_apt python3 python3-venv
    if [ -x "$venv/bin/jupyter-server" ]; then
        installed="$("$venv/bin/pip" show jupyter-server 2>/dev/null | sed -n 's/^Version: //p')"
    fi
    if [ "$installed" != "$BYTESBOX_JUPYTER_SERVER_VERSION" ]; then
        say "jupyter-server: installing jupyter-server==$BYTESBOX_JUPYTER_SERVER_VERSION into $venv"
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "jupyter-server==$BYTESBOX_JUPYTER_SERVER_VERSION"
    fi
    export BYTESBOX_TEST_JUPYTER_SERVER="$venv/bin/jupyter-server"
}

# The validators of the deployment files (scripts/validate-deploy), from
# PyPI (pinned below) in a Python venv under the target directory
# (target/deploy-validators-venv, built once and kept): kubernetes-validate,
# which bundles the Kubernetes API's JSON schemas, and check-jsonschema,
# which bundles the Compose Spec's; both work offline. Exports
# BYTESBOX_KUBERNETES_VALIDATE and BYTESBOX_CHECK_JSONSCHEMA, the paths of
# their commands.
BYTESBOX_KUBERNETES_VALIDATE_VERSION="1.37.0"
BYTESBOX_CHECK_JSONSCHEMA_VERSION="0.39.0"
ensure_deploy_validators() {
    local target venv wanted installed=""
    target="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
    venv="$target/deploy-validators-venv"
    ensure_apt python3 python3-venv
    wanted="$BYTESBOX_KUBERNETES_VALIDATE_VERSION $BYTESBOX_CHECK_JSONSCHEMA_VERSION"
    if [ -x "$venv/bin/kubernetes-validate" ] && [ -x "$venv/bin/check-jsonschema" ]; then
        installed="$("$venv/bin/pip" show kubernetes-validate check-jsonschema 2>/dev/null \
            | sed -n 's/^Version: //p' | tr '\n' ' ' | sed 's/ $//')"
    fi
    if [ "$installed" != "$wanted" ]; then
        say "deploy validators: installing kubernetes-validate==$BYTESBOX_KUBERNETES_VALIDATE_VERSION and check-jsonschema==$BYTESBOX_CHECK_JSONSCHEMA_VERSION into $venv"
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "kubernetes-validate==$BYTESBOX_KUBERNETES_VALIDATE_VERSION" \
            "check-jsonschema==$BYTESBOX_CHECK_JSONSCHEMA_VERSION"
    fi
    export BYTESBOX_KUBERNETES_VALIDATE="$venv/bin/kubernetes-validate"
    export BYTESBOX_CHECK_JSONSCHEMA="$venv/bin/check-jsonschema"
}

# Whether moto_server on 127.0.0.1:$2 answers (with the venv $1's Python).
s3_mock_answers() {
    "$1/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2).close()' \
        "$2" >/dev/null 2>&1
}

# What the cgroup v2 VM stage (scripts/vm-cgroup2) needs: QEMU (plain
# emulation; KVM is not used), a static busybox for the guest's initramfs,
# and Debian's current kernel, the image package that linux-image-amd64
# depends on. The kernel is extracted under the target directory
# (target/vm/kernel/PACKAGE_VERSION, with a busybox depmod), not installed:
# installing it would run its hooks (an initramfs build, boot loader
# updates) and write the host's /boot and /lib/modules for a kernel the host
# never boots. Older extracted kernels are removed. Sets VM_KERNEL_DIR.
ensure_vm_tools() {
    ensure_apt qemu-system-x86 busybox-static
    if ! ensure_vm_kernel; then
        # Stale package lists name a kernel the archive no longer has.
        apt_update_once
        ensure_vm_kernel || die "could not download Debian's kernel (linux-image-amd64)"
    fi
}

# ensure_vm_tools' kernel: fails when apt cannot name or download it. It
# runs as an `if` condition, where `set -e` does not apply: every step
# checks its own status.
ensure_vm_kernel() {
    local package version kernels download
    package="$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)"
    [ -n "$package" ] || return 1
    version="$(apt-cache show --no-all-versions "$package" | sed -n 's/^Version: //p' | head -n 1)"
    [ -n "$version" ] || return 1
    kernels="$(mkdir -p "${CARGO_TARGET_DIR:-target}/vm/kernel" && cd "${CARGO_TARGET_DIR:-target}/vm/kernel" && pwd)"
    VM_KERNEL_DIR="$kernels/${package}_$version"
    [ -f "$VM_KERNEL_DIR/.complete" ] && return 0
    say "vm: downloading $package $version (extracted into the target directory, not installed)"
    download="$(mktemp -d)"
    if ! (cd "$download" && apt-get download -qq -o APT::Sandbox::User=root "$package=$version" >/dev/null); then
        rm -rf "$download"
        return 1
    fi
    find "$kernels" -mindepth 1 -maxdepth 1 -exec rm -rf {} + || die "could not clear $kernels"
    mkdir -p "$VM_KERNEL_DIR" || die "could not create $VM_KERNEL_DIR"
    dpkg-deb -x "$download"/*.deb "$VM_KERNEL_DIR" || die "could not extract $package"
    rm -rf "$download"
    local release="${package#linux-image-}"
    [ -d "$VM_KERNEL_DIR/lib/modules/$release" ] || die "$package has no lib/modules/$release"
    busybox depmod -b "$VM_KERNEL_DIR" "$release" || die "depmod of $package failed"
    touch "$VM_KERNEL_DIR/.complete" || die "could not write to $VM_KERNEL_DIR"
}
