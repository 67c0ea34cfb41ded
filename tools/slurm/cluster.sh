#!/usr/bin/env bash
# A one-node SLURM cluster on this host, for testing the workflow's SLURM profile.
#
# Usage: tools/slurm/cluster.sh {install|start|stop|status} [...]
#   install  apt-get install the Debian SLURM, munge and MariaDB packages (root)
#   start    write the configuration and start munged, MariaDB, slurmdbd,
#            slurmctld and slurmd (each only if it is not running yet)
#   stop     stop the daemons this script started (from its PID files)
#   status   print what is running and what SLURM reports
# Several commands may be given at once: `cluster.sh install start`.
#
# Works without systemd and without cgroups (containers, CI runners).
#
# Environment:
#   SLURM_STATE_DIR   spool, logs, PID files, database   [/var/tmp/deepfake-ensemble-slurm]
#   SLURM_CLUSTER     cluster name                          [deepfake]
#   SLURM_PARTITION   partition name                        [debug]
#   SLURM_DB_PORT     TCP port of the private MariaDB       [13306]
#   SLURM_MEM_HEADROOM_MB  memory kept back from SLURM      [max(1024, 10% of RAM)]
#   SLURM_START_TIMEOUT    seconds to wait for each daemon  [60]
#
# The clients (sbatch, sacct, squeue, ...) read /etc/slurm/slurm.conf, so the
# cluster configuration is written there (with gres.conf and slurmdbd.conf).
# A configuration there that this script did not write is kept under
# <state dir>/backup/ and restored by `stop`.

set -euo pipefail

STATE_DIR="${SLURM_STATE_DIR:-/var/tmp/deepfake-ensemble-slurm}"
CLUSTER="${SLURM_CLUSTER:-deepfake}"
PARTITION="${SLURM_PARTITION:-debug}"
DB_PORT="${SLURM_DB_PORT:-13306}"
START_TIMEOUT="${SLURM_START_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
MARKER="# Written by deepfake-ensemble tools/slurm/cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)
# Start order; stop runs in reverse.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

PID_DIR="$STATE_DIR/pids"
LOG_DIR="$STATE_DIR/log"

log() { printf '[cluster.sh] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "'$1' needs root (it starts system daemons)"
}

# ---------------------------------------------------------------- processes

# The executable name /proc reports for a daemon (MariaDB may call itself mysqld).
proc_matches() {
	local pid=$1 name=$2 comm stat
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	# A killed daemon can linger as a zombie until its parent reaps it.
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]] || return 1
	case $name in
	mariadbd) [[ $comm == mariadbd || $comm == mysqld ]] ;;
	*) [[ $comm == "$name" ]] ;;
	esac
}

# PID of a daemon this script started, if it is still alive (stale files removed).
our_pid() {
	local name=$1 file="$PID_DIR/$1.pid" pid
	[[ -s $file ]] || return 1
	pid=$(tr -dc '0-9' <"$file")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && proc_matches "$pid" "$name"; then
		echo "$pid"
		return 0
	fi
	rm -f "$file"
	return 1
}

# PID of any running process with this executable name (ours or not).
any_pid() {
	local name=$1 p
	for p in /proc/[0-9]*; do
		proc_matches "${p#/proc/}" "$name" && {
			echo "${p#/proc/}"
			return 0
		}
	done
	return 1
}

# Wait until the daemon's own PID file names a live process; record it as ours.
record_pid() { # name, daemon pid file[, pid of the launched process]
	local name=$1 daemon_pidfile=$2 launched=${3:-} deadline=$((SECONDS + START_TIMEOUT)) pid
	while ((SECONDS < deadline)); do
		if [[ -n $launched ]] && ! kill -0 "$launched" 2>/dev/null; then
			die "$name exited at start; see $LOG_DIR/$name.log and $LOG_DIR/$name.out"
		fi
		if [[ -s $daemon_pidfile ]]; then
			pid=$(tr -dc '0-9' <"$daemon_pidfile")
			if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && proc_matches "$pid" "$name"; then
				echo "$pid" >"$PID_DIR/$name.pid"
				log "started $name (pid $pid)"
				return 0
			fi
		fi
		sleep 0.2
	done
	die "$name did not start within ${START_TIMEOUT}s; see $LOG_DIR/$name.log"
}

wait_for() { # description, command...
	local what=$1 deadline=$((SECONDS + START_TIMEOUT))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "timed out waiting for $what"
		sleep 0.3
	done
}

stop_pid() {
	local name=$1 pid=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null || ! proc_matches "$pid" "$name"; then
			log "stopped $name (pid $pid)"
			return 0
		fi
		sleep 0.2
	done
	log "$name (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

# ------------------------------------------------------------------ install

cmd_install() {
	need_root install
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "packages already installed: ${PACKAGES[*]}"
		return 0
	fi
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Package lists may be missing in fresh containers.
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

# ------------------------------------------------------------ configuration

host_name() { hostname -s; }

node_memory_mb() {
	local total headroom
	total=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
	headroom=${SLURM_MEM_HEADROOM_MB:-$((total / 10 > 1024 ? total / 10 : 1024))}
	echo $((total - headroom > 256 ? total - headroom : 256))
}

# Keep a configuration that another installation put into /etc/slurm.
backup_foreign_config() {
	local f
	for f in slurm.conf gres.conf slurmdbd.conf; do
		if [[ -f $CONF_DIR/$f ]] && ! grep -qF "$MARKER" "$CONF_DIR/$f" &&
			[[ ! -e $STATE_DIR/backup/$f ]]; then
			mkdir -p "$STATE_DIR/backup"
			cp -p "$CONF_DIR/$f" "$STATE_DIR/backup/$f"
			log "kept the existing $CONF_DIR/$f as $STATE_DIR/backup/$f"
		fi
	done
}

# Write a file atomically with the given mode and owner.
install_file() { # path mode owner  (content on stdin)
	local path=$1 mode=$2 owner=$3 tmp
	tmp=$(mktemp "$path.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	chown "$owner" "$tmp"
	mv -f "$tmp" "$path"
}

write_configs() {
	local host cpus mem defmem db_pass
	host=$(host_name)
	cpus=$(nproc)
	mem=$(node_memory_mb)
	defmem=$((mem / cpus))
	((defmem > 1024)) && defmem=1024

	mkdir -p "$CONF_DIR" "$PID_DIR" "$LOG_DIR" "$STATE_DIR/slurmd" \
		"$STATE_DIR/slurmctld" "$STATE_DIR/run"
	chmod 755 "$STATE_DIR" "$LOG_DIR" "$STATE_DIR/run"
	chown slurm:slurm "$STATE_DIR/slurmctld" "$STATE_DIR/run"
	touch "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmdbd.log" "$LOG_DIR/mariadbd.log"
	chown slurm:slurm "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmdbd.log"
	mkdir -p "$STATE_DIR/mysql-run"
	chown mysql:mysql "$STATE_DIR/mysql-run" "$LOG_DIR/mariadbd.log"
	backup_foreign_config

	# Node topology as slurmd detects it, when it agrees with nproc.
	local topo="CPUs=$cpus" detected
	detected=$(slurmd -C 2>/dev/null | head -n1 || true)
	if [[ $detected == *" CPUs=$cpus "* ]]; then
		topo=$(grep -o 'CPUs=.* ThreadsPerCore=[0-9]*' <<<"$detected")
	fi

	local old_sum
	old_sum=$(md5sum "$CONF_DIR/slurm.conf" 2>/dev/null | cut -d' ' -f1 || true)
	install_file "$CONF_DIR/slurm.conf" 644 root:root <<EOF
$MARKER
# One-node test cluster: $host, $cpus CPUs, ${mem} MB for jobs, two fake GPUs.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups and no systemd in containers.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$defmem
# Finished jobs stay visible to squeue/scontrol for 5 minutes.
MinJobAge=300
InactiveLimit=0
KillWait=10
Waittime=0
SlurmctldTimeout=120
SlurmdTimeout=300
MailProg=/bin/true
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
# sacct shows the comment (snakemake's rule name) of each job.
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 $topo RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

	CONF_CHANGED=0
	[[ $old_sum == "$(md5sum "$CONF_DIR/slurm.conf" | cut -d' ' -f1)" ]] || CONF_CHANGED=1

	install_file "$CONF_DIR/gres.conf" 644 root:root <<EOF
$MARKER
# Two fake GPUs (character devices that every machine has), so that jobs
# asking for GPUs schedule here, two GPU jobs side by side on the two CPUs.
NodeName=$host Name=gpu File=/dev/null
NodeName=$host Name=gpu File=/dev/zero
EOF

	if [[ ! -s $STATE_DIR/db.pass ]]; then
		(
			umask 077
			head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$STATE_DIR/db.pass"
		)
	fi
	db_pass=$(cat "$STATE_DIR/db.pass")

	install_file "$CONF_DIR/slurmdbd.conf" 600 slurm:slurm <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$STATE_DIR/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$db_pass
StorageLoc=slurm_acct_db
EOF

	install_file "$STATE_DIR/my.cnf" 644 root:root <<EOF
[mariadbd]
datadir=$STATE_DIR/mysql
socket=$STATE_DIR/mysql-run/mysqld.sock
pid-file=$STATE_DIR/mysql-run/mariadbd.pid
log-error=$LOG_DIR/mariadbd.log
port=$DB_PORT
bind-address=127.0.0.1
user=mysql
innodb_buffer_pool_size=256M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
max_allowed_packet=16M
EOF
}

# ------------------------------------------------------------------ daemons

munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() {
	if our_pid munged >/dev/null || munge_works; then
		log "munged already running"
		return 0
	fi
	if pid=$(any_pid munged); then
		die "munged (pid $pid) runs but does not answer; stop it first"
	fi
	mkdir -p /run/munge /var/lib/munge /var/log/munge
	chown munge:munge /run/munge /var/lib/munge /var/log/munge
	chmod 755 /run/munge
	chmod 700 /var/lib/munge /var/log/munge
	[[ -s /etc/munge/munge.key ]] || {
		mungekey --create --keyfile=/etc/munge/munge.key
		chown munge:munge /etc/munge/munge.key
		chmod 400 /etc/munge/munge.key
	}
	rm -f /run/munge/munged.pid "$PID_DIR/munged.pid"
	local pidfile=/run/munge/munged.pid
	runuser -u munge -- /usr/sbin/munged --pid-file="$pidfile" \
		--log-file="/var/log/munge/munged.log" ||
		die "munged failed to start; see /var/log/munge/munged.log"
	record_pid munged "$pidfile"
	wait_for "munged" munge_works
}

db_ping() { mysqladmin --no-defaults --socket="$STATE_DIR/mysql-run/mysqld.sock" -uroot ping; }

start_mariadb() {
	if our_pid mariadbd >/dev/null && db_ping >/dev/null 2>&1; then
		log "mariadbd already running"
		return 0
	fi
	if [[ ! -d $STATE_DIR/mysql/mysql ]]; then
		log "initialising the accounting database in $STATE_DIR/mysql"
		rm -rf "$STATE_DIR/mysql"
		mkdir -p "$STATE_DIR/mysql"
		chown mysql:mysql "$STATE_DIR/mysql"
		mariadb-install-db --defaults-file="$STATE_DIR/my.cnf" --user=mysql \
			--auth-root-authentication-method=socket --skip-test-db \
			>"$LOG_DIR/mariadb-install-db.log" 2>&1 ||
			die "mariadb-install-db failed; see $LOG_DIR/mariadb-install-db.log"
	fi
	rm -f "$STATE_DIR/mysql-run/mariadbd.pid" "$STATE_DIR/mysql-run/mysqld.sock"
	setsid mariadbd --defaults-file="$STATE_DIR/my.cnf" </dev/null \
		>>"$LOG_DIR/mariadbd.out" 2>&1 &
	record_pid mariadbd "$STATE_DIR/mysql-run/mariadbd.pid" $!
	wait_for "MariaDB" db_ping
	local pass
	pass=$(cat "$STATE_DIR/db.pass")
	mariadb --no-defaults --socket="$STATE_DIR/mysql-run/mysqld.sock" -uroot <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

start_slurm_daemon() { # name, daemon pid file, readiness check...
	local name=$1 pidfile=$2
	shift 2
	if our_pid "$name" >/dev/null; then
		log "$name already running"
		return 0
	fi
	local pid
	if pid=$(any_pid "$name"); then
		die "$name (pid $pid) runs but was not started by this script; stop it first"
	fi
	rm -f "$pidfile"
	# The daemons fork into the background themselves.
	"/usr/sbin/$name" >>"$LOG_DIR/$name.out" 2>&1 </dev/null ||
		die "$name failed to start; see $LOG_DIR/$name.log"
	record_pid "$name" "$pidfile"
	wait_for "$name" "$@"
}

node_idle() {
	local state
	state=$(sinfo -h -N -n "$(host_name)" -o '%t' 2>/dev/null | head -n1)
	[[ $state == idle* || $state == mix* || $state == alloc* ]]
}

# slurmd registered: the node has a state and answers (no `*`), whichever.
node_responding() {
	local state
	state=$(sinfo -h -N -n "$(host_name)" -o '%t' 2>/dev/null | head -n1)
	[[ -n $state && $state != *'*' && $state != unk* ]]
}

cluster_registered() {
	sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"
}

cmd_start() {
	need_root start
	command -v slurmctld >/dev/null || die "SLURM is not installed; run '$0 install'"
	local t0=$SECONDS was_running=0
	our_pid slurmctld >/dev/null && was_running=1
	write_configs
	start_munged
	start_mariadb
	start_slurm_daemon slurmdbd "$STATE_DIR/run/slurmdbd.pid" \
		sacctmgr -n show cluster
	if ! cluster_registered; then
		sacctmgr -i add cluster "$CLUSTER" >/dev/null
		log "registered cluster '$CLUSTER' in accounting"
	fi
	start_slurm_daemon slurmctld "$STATE_DIR/run/slurmctld.pid" scontrol ping
	start_slurm_daemon slurmd "$STATE_DIR/run/slurmd.pid" node_responding
	# A node left DOWN/DRAINED by an earlier, killed run, or drained when an
	# earlier configuration counted other GPUs.
	if ! node_idle; then
		scontrol update nodename="$(host_name)" state=resume 2>/dev/null || true
		wait_for "node $(host_name) to become idle" node_idle
	fi
	if ((was_running && CONF_CHANGED)); then
		scontrol reconfigure
		log "slurm.conf changed: told the running daemons to re-read it"
	fi
	wait_for "sacct" sacct -n -X --starttime now-1minute
	log "cluster '$CLUSTER' ready in $((SECONDS - t0)) s (partition $PARTITION," \
		"node $(host_name), state dir $STATE_DIR)"
}

cmd_stop() {
	local i name pid any=0
	for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
		name=${DAEMONS[i]}
		if pid=$(our_pid "$name"); then
			any=1
			stop_pid "$name" "$pid"
			rm -f "$PID_DIR/$name.pid"
		fi
	done
	((any)) || log "nothing to stop (no daemon started by this script is running)"
	# Give back a configuration that another installation had put there.
	local f
	for f in slurm.conf gres.conf slurmdbd.conf; do
		if [[ -e $STATE_DIR/backup/$f ]]; then
			mv -f "$STATE_DIR/backup/$f" "$CONF_DIR/$f"
			log "restored the earlier $CONF_DIR/$f"
		fi
	done
}

cmd_status() {
	local name pid rc=0
	echo "state dir: $STATE_DIR"
	for name in "${DAEMONS[@]}"; do
		if pid=$(our_pid "$name"); then
			printf '  %-10s running (pid %s)\n' "$name" "$pid"
		elif pid=$(any_pid "$name"); then
			printf '  %-10s running (pid %s, not started by this script)\n' "$name" "$pid"
		else
			printf '  %-10s stopped\n' "$name"
			rc=1
		fi
	done
	if command -v sinfo >/dev/null && ((rc == 0)); then
		local out
		if out=$(sinfo -N -o '%N %P %t %c %m %G' 2>&1); then
			printf '  %s\n' "${out//$'\n'/$'\n'  }"
		else
			echo "  sinfo failed: $out"
			rc=1
		fi
		if out=$(sacctmgr -n -P show cluster format=cluster,controlhost 2>&1); then
			printf '  accounting: %s\n' "$out"
		else
			echo "  sacctmgr failed: $out"
			rc=1
		fi
	fi
	return $rc
}

# --------------------------------------------------------------------- main

(($# > 0)) || {
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit 2
}
for cmd in "$@"; do
	case $cmd in
	install) cmd_install ;;
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	-h | --help | help) sed -n '2,11s/^# \{0,1\}//p' "$0" ;;
	*) die "unknown command '$cmd' (install, start, stop, status)" ;;
	esac
done
