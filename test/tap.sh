# Sourced by the end-to-end scripts: numbered TAP-style results.
#   tap_ok DESC / tap_not_ok DESC [DETAIL]      one result
#   tap_check DESC COMMAND...                   ok when COMMAND succeeds
#   tap_wait DESC TIMEOUT COMMAND...            ok once COMMAND prints t, polled every second
#   tap_done                                    the summary; returns non-zero on any failure
tap_passed=0
tap_failed=0
tap_ok() { tap_passed=$((tap_passed + 1)); echo "ok $((tap_passed + tap_failed)) - $1"; }
tap_not_ok() {
    tap_failed=$((tap_failed + 1))
    echo "not ok $((tap_passed + tap_failed)) - $1${2:+ ($2)}"
}
tap_check() { local what=$1; shift; if "$@"; then tap_ok "$what"; else tap_not_ok "$what"; fi; }
tap_wait() {
    local what=$1 timeout=$2 waited=0 got; shift 2
    while :; do
        got=$("$@" 2>&1)
        [[ $got == t ]] && { tap_ok "$what"; return 0; }
        ((waited >= timeout)) && { tap_not_ok "$what" "got: $got"; return 1; }
        sleep 1; waited=$((waited + 1))
    done
}
tap_done() { echo "$tap_passed passed, $tap_failed failed"; ((tap_failed == 0)); }
