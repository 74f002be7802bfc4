# bench/lib.sh: helpers the benchmark scripts share (sourced, not run).
# Needs QUIET_WAIT (seconds) set by the caller.

port_listening() { ss -Hltn "sport = :$1" | grep -q .; }

# How busy the machine is, in % of one core summed over all cores, over 1 s.
busy_pct() {
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    awk -v n="$(nproc)" -v u="$((b[1]+b[2]+b[3]+b[6]+b[7]+b[8] - a[1]-a[2]-a[3]-a[6]-a[7]-a[8]))" \
        -v t="$((b[1]+b[2]+b[3]+b[4]+b[5]+b[6]+b[7]+b[8] - a[1]-a[2]-a[3]-a[4]-a[5]-a[6]-a[7]-a[8]))" \
        'BEGIN { printf "%.0f", t ? u * 100 * n / t : 0 }'
}

# Waits (at most QUIET_WAIT s) for the machine to be under 15 % busy before
# a load run, prints how busy it was, and warns on stderr when it never
# got quiet: that run's figures will be low. $1 names the run.
wait_quiet_pct() {
    local start=$SECONDS b
    while :; do
        b=$(busy_pct)
        if (( b < 15 || SECONDS - start >= QUIET_WAIT )); then break; fi
    done
    if (( b >= 15 )); then
        echo "# WARNING: the machine was $b% busy before the $1 run; its figures will be low" >&2
    fi
    echo "$b"
}
