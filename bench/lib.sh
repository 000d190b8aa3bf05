# shellcheck shell=bash
# bench/lib.sh — helpers shared by bench/run, bench/auth_run and bench/hooks_run (sourced).
#
# Starting shiplog on a loopback port with only our SHIPLOG_* settings, and
# one wrk measurement (warm-up, measured run, non-2xx check, figures). The
# callers own their temp directory and the trap that stops what they start.
# The functions read the caller's knobs (duration, warmup, threads, conns) and
# hand results back in globals (shiplog_pid, shiplog_url, wrk_*).
# shellcheck disable=SC2034,SC2154

bench_die() { echo "bench: $*" >&2; exit 1; }

# Loopback requests must never go through a proxy.
bench_no_proxy() {
    export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
    unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
}

bench_secs() { # "10s" / "2m" / "10" -> seconds
    case "$1" in
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
    esac
}

bench_to_ms() { # wrk's "1.23ms" / "456.78us" / "1.02s" -> ms
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "nan" }'
}

# bench_shiplog_start BIN WORKDIR [SHIPLOG_NAME=value ...]
# Starts BIN serve --listen 127.0.0.1:0 with data in WORKDIR/data, stdout and
# stderr in WORKDIR/shiplog.{out,err}, SHIPLOG_LOG_LEVEL=warn, a random master
# key and the given settings; every inherited SHIPLOG_* variable is removed
# (the server rejects unknown names). Sets shiplog_pid as soon as the process
# exists (for the caller's trap), then shiplog_url from its listening line.
bench_shiplog_start() {
    local bin=$1 work=$2
    shift 2
    mkdir -p "$work/data"
    : >"$work/shiplog.out"
    : >"$work/shiplog.err"
    local unset_args
    mapfile -t unset_args < <(env | sed -n 's/^\(SHIPLOG_[A-Za-z0-9_]*\)=.*/-u\n\1/p')
    env "${unset_args[@]}" \
        SHIPLOG_LOG_LEVEL=warn \
        SHIPLOG_MASTER_KEY="$(openssl rand -hex 32)" \
        "$@" \
        "$bin" serve --listen 127.0.0.1:0 --data "$work/data" >"$work/shiplog.out" 2>"$work/shiplog.err" &
    shiplog_pid=$!
    shiplog_url=""
    for _ in $(seq 1 150); do
        shiplog_url=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$work/shiplog.out" | head -n1 || true)
        [ -n "$shiplog_url" ] && return 0
        kill -0 "$shiplog_pid" 2>/dev/null || { cat "$work/shiplog.err" >&2; bench_die "shiplog exited"; }
        sleep 0.1
    done
    cat "$work/shiplog.err" >&2
    bench_die "shiplog did not print its listening line"
}

# bench_wrk LABEL URL [extra wrk arguments, e.g. -H "Cookie: ..."]
# A warm-up of $warmup, then wrk -t$threads -c$conns -d$duration --latency,
# each bounded by timeout. Dies when wrk fails or any response was not 2xx/3xx.
# When bench_allow_non2xx is non-empty, non-2xx responses do not abort: the
# caller reads wrk_non2xx (their count, 0 when none) and decides.
# Sets wrk_rps (requests/s), wrk_p50 and wrk_p99 (ms), wrk_requests (responses
# in the measured run), wrk_out (wrk's whole output); when bench_cpu_pid is set, also
# wrk_cpu_us: that process's CPU time (user + system) per request of the
# measured run, in microseconds — a figure that other load on the machine
# disturbs less than requests/s.
bench_wrk() {
    local label=$1 url=$2
    shift 2
    local limit=$(($(bench_secs "$duration") + $(bench_secs "$warmup") + 60))
    local out ticks0=0 ticks1=0 n
    timeout "$limit" wrk -t"$threads" -c"$conns" -d"$warmup" "$@" "$url" >/dev/null 2>&1 || true
    [ -z "${bench_cpu_pid:-}" ] || ticks0=$(bench_cpu_ticks "$bench_cpu_pid")
    out=$(timeout "$limit" wrk -t"$threads" -c"$conns" -d"$duration" --latency "$@" "$url" 2>&1) ||
        bench_die "wrk failed against $label: $out"
    [ -z "${bench_cpu_pid:-}" ] || ticks1=$(bench_cpu_ticks "$bench_cpu_pid")
    wrk_out=$out
    wrk_non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    wrk_non2xx=${wrk_non2xx:-0}
    if [ "$wrk_non2xx" != 0 ] && [ -z "${bench_allow_non2xx:-}" ]; then
        bench_die "$label answered non-2xx during the run: $(grep 'Non-2xx or 3xx responses' <<<"$out" | tr -s ' ')"
    fi
    wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    wrk_p50=$(bench_to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    wrk_p99=$(bench_to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    wrk_requests=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")
    if [ -z "$wrk_rps" ] || [ "$wrk_p99" = nan ]; then
        bench_die "cannot read wrk's figures for $label: $out"
    fi
    wrk_cpu_us=""
    if [ -n "${bench_cpu_pid:-}" ]; then
        n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")
        wrk_cpu_us=$(awk -v t=$((ticks1 - ticks0)) -v hz="$(getconf CLK_TCK)" -v n="${n:-0}" \
            'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }')
    fi
}

bench_cpu_ticks() { # pid -> utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
