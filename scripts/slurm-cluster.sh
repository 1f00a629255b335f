#!/usr/bin/env bash
# A real one-node Slurm cluster for tests and trying the Slurm executor on one machine:
# munged, slurmctld and slurmd on loopback, every file (key, config, state, logs, pids) under DIR,
# nothing written to /etc. Needs root and the Debian packages slurmctld slurmd slurm-client munge.
#
#   scripts/slurm-cluster.sh start DIR   # starts the daemons, waits until the node is idle,
#                                        # writes DIR/env.sh (export SLURM_CONF=DIR/slurm.conf)
#                                        # and prints SLURM_CONF=… as its last line
#   scripts/slurm-cluster.sh stop DIR    # cancels every job, stops the daemons by their pids
#   scripts/slurm-cluster.sh status DIR  # sinfo + squeue of the cluster
#
# Slurm's ports (6817/6818) are fixed, so only one such cluster can run on a machine at a time.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
command="$1"
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

log() { echo "slurm-cluster: $*" >&2; }

# Whether PID is a live process (a zombie, dead but not yet reaped, is not).
running() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

alive() { [[ -f "$dir/$1.pid" ]] && running "$(cat "$dir/$1.pid")"; }

# Starts a daemon in the background, its pid in DIR/NAME.pid and its output in DIR/log/NAME.out.
# The subshell closes every inherited descriptor but 0-2 before exec'ing the daemon: a caller
# that waits for EOF on a descriptor it passed down (Foundation's Process does) would otherwise
# wait for as long as the daemons live. It also clears the signal mask (perl-base is always on
# Debian): a caller with SIGTERM blocked (a Swift test process spawns children so) would give
# slurmd and munged a mask under which SIGTERM never stops them. $! is the daemon's pid (the
# subshell and perl exec into it).
daemon() {
    local name="$1"; shift
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd="${fd##*/}"
            if [[ "$fd" -gt 2 ]]; then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec perl -MPOSIX -e 'sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!";
                              exec {$ARGV[0]} @ARGV or die "exec $ARGV[0]: $!"' -- "$@" \
            </dev/null >"$dir/log/$name.out" 2>&1
    ) &
    echo $! > "$dir/$name.pid"
}

# Stops the daemons whose pids are in DIR/NAME.pid, together (each takes ~2 s to exit on TERM):
# TERM, up to 10 s, then KILL.
stop_daemons() {
    local name pids=()
    for name in "$@"; do
        [[ -f "$dir/$name.pid" ]] && pids+=("$(cat "$dir/$name.pid")")
    done
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 100); do
        local running=0
        for pid in "${pids[@]}"; do running "$pid" && running=1; done
        [[ $running == 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if running "$pid"; then log "pid $pid did not stop; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for name in "$@"; do rm -f "$dir/$name.pid"; done
}

stop() {
    if alive slurmctld; then
        # Killing slurmd does not kill running jobs: cancel everything first, wait for it to end.
        scancel --quiet --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 100); do
            [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
            sleep 0.1
        done
    fi
    stop_daemons slurmd slurmctld munged
    log "stopped (files kept in $dir)"
}

start() {
    for tool in munged slurmctld slurmd sinfo sbatch squeue scontrol scancel perl; do
        command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null || {
            log "'$tool' is not installed (apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)"
            exit 1
        }
    done
    export PATH="$PATH:/usr/sbin"
    if alive slurmctld || alive slurmd || alive munged; then
        log "a cluster is already running in $dir (stop it first)"; exit 1
    fi
    if [[ "$(id -u)" != 0 ]]; then log "must run as root (slurmd and SlurmUser=root)"; exit 1; fi
    mkdir -p "$dir/log" "$dir/state" "$dir/spool" "$dir/munge-run"
    rm -rf "$dir/munge-etc" && mkdir -m 0700 "$dir/munge-etc"
    chmod 0755 "$dir/munge-run"   # clients fail with "Socket is inaccessible" otherwise
    head -c 1024 /dev/urandom > "$dir/munge-etc/munge.key"
    chmod 0400 "$dir/munge-etc/munge.key"
    local socket="$dir/munge-run/munge.sock"
    rm -f "$socket"

    daemon munged munged -F --key-file="$dir/munge-etc/munge.key" --socket="$socket" \
        --pid-file="$dir/munge-run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge-etc/munged.seed"
    for _ in $(seq 100); do [[ -S "$socket" ]] && break; sleep 0.05; done
    if [[ ! -S "$socket" ]]; then log "munged did not create its socket"; cat "$dir/log/munged.out" "$dir/log/munged.log" >&2 || true; stop; exit 1; fi

    cat > "$conf" <<CONF
# One-node test cluster written by scripts/slurm-cluster.sh; everything lives under $dir.
ClusterName=ablate-test
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/log/slurmctld.pidfile
SlurmdPidFile=$dir/log/slurmd.pidfile
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

    # Started in the foreground mode (-D) as our own children, never inside $(...) or a
    # pipeline, so that the recorded pids are the daemons'.
    daemon slurmctld slurmctld -D -i
    daemon slurmd slurmd -D -N localhost

    local state=""
    for _ in $(seq 300); do
        state="$(sinfo -h -o %T 2>/dev/null || true)"
        [[ "$state" == "idle" ]] && break
        if ! alive slurmctld || ! alive slurmd; then break; fi
        sleep 0.1
    done
    if [[ "$state" != "idle" ]]; then
        log "the node did not become idle (state '$state'); logs:"
        tail -n 20 "$dir"/log/*.out "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2>/dev/null || true
        stop
        exit 1
    fi
    printf 'export SLURM_CONF=%q\n' "$conf" > "$dir/env.sh"
    log "running: slurmctld $(cat "$dir/slurmctld.pid"), slurmd $(cat "$dir/slurmd.pid"), munged $(cat "$dir/munged.pid"); node idle with $(nproc) CPUs"
    log "use it with: source $dir/env.sh"
    echo "SLURM_CONF=$conf"
}

case "$command" in
    start) start ;;
    stop) export PATH="$PATH:/usr/sbin"; stop ;;
    status) sinfo; squeue ;;
    *) usage ;;
esac
