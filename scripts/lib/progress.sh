# Progress of the long scripts on stderr: step k of N with elapsed time and an ETA from the steps done so far.
# Sourced by scripts/reproduce-paper, scripts/calibrate and scripts/record (bash).
#
#   progress_init NAME N     starts: N steps in all
#   progress_step LABEL      step k+1 begins: "NAME: [k+1/N] LABEL (elapsed 1 min 05 s, ETA 3 min 10 s)"
#   progress_done            "NAME: done, N steps in 4 min 15 s"
#   progress_every SECONDS CMD...   runs CMD (a function printing one status line) every SECONDS in the background
#                            until progress_every_stop; on a TTY the line is redrawn in place
# ODF_QUIET=1 (or scripts given --quiet) silences all of them.

_progress_name=""
_progress_n=0
_progress_k=0
_progress_t0=0
_progress_bg=""

progress_fmt_s() { # seconds -> "45 s", "3 min 05 s", "1 h 02 min"
	local s=${1%.*}
	if ((s < 60)); then
		printf '%d s' "$s"
	elif ((s < 3600)); then
		printf '%d min %02d s' $((s / 60)) $((s % 60))
	else
		printf '%d h %02d min' $((s / 3600)) $((s / 60 % 60))
	fi
}

progress_init() {
	_progress_name=$1
	_progress_n=$2
	_progress_k=0
	_progress_t0=$SECONDS
}

progress_step() {
	local el=$((SECONDS - _progress_t0)) eta="?"
	if ((_progress_k > 0)); then
		eta=$(progress_fmt_s $((el * (_progress_n - _progress_k) / _progress_k)))
	fi
	_progress_k=$((_progress_k + 1))
	[[ ${ODF_QUIET:-0} == 1 ]] && return 0
	printf '%s: [%d/%d] %s (elapsed %s, ETA %s)\n' "$_progress_name" "$_progress_k" "$_progress_n" "$*" \
		"$(progress_fmt_s "$el")" "$eta" >&2
}

progress_done() {
	[[ ${ODF_QUIET:-0} == 1 ]] && return 0
	printf '%s: done, %d steps in %s\n' "$_progress_name" "$_progress_k" "$(progress_fmt_s $((SECONDS - _progress_t0)))" >&2
}

progress_every() {
	local every=$1
	shift
	[[ ${ODF_QUIET:-0} == 1 ]] && return 0
	(
		trap 'exit 0' TERM
		while sleep "$every"; do
			if [[ -t 2 ]]; then
				printf '\r\033[K%s' "$("$@")" >&2
			else
				printf '%s\n' "$("$@")" >&2
			fi
		done
	) &
	_progress_bg=$!
}

progress_every_stop() {
	if [[ -n $_progress_bg ]]; then
		kill "$_progress_bg" 2>/dev/null || true
		wait "$_progress_bg" 2>/dev/null || true
		_progress_bg=""
		[[ -t 2 ]] && printf '\r\033[K' >&2
	fi
	return 0
}
