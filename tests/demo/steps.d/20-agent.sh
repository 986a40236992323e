# SPDX-License-Identifier: MIT
# Demo helpers for cloudseal-agent (issue 5), sourced by tests/demo/demo.sh.
# The backup step (30-backup.sh) runs its backup through the agent, the way
# it happens for real: systemd --user starts cloudseal-agent at login, the
# agent finds the key in the keyring and backs up (creating the repository
# the first time).  The demo has no user manager, so it starts the agent by
# hand with a private XDG_RUNTIME_DIR.

# its socket, state and the backup's file cache outside the home being backed up
agent_as_user() {
  as_user env HOME="$D/home" XDG_RUNTIME_DIR="$D/run" XDG_STATE_HOME="$D/agent-state" \
    XDG_CACHE_HOME="$D/agent-cache" "$@"
}

agent_backup() {
  install -d -o $DEMO_USER -g $DEMO_USER -m 0700 "$D/run" "$D/agent-state" "$D/agent-cache"
  # the demo's configuration, without the message-archive sync (it would add
  # ~/Maildir to the home the demo compares with its restored copy)
  { cat "$C"; printf '[agent]\narchive_sync = no\nrandomized_delay = 0\n'; } > "$D/agent.conf"
  chmod 644 "$D/agent.conf"
  say "$ cloudseal-agent &   (as $DEMO_USER; under systemd: cloudseal-agent.service, started at login)"
  # (setpriv directly, not through a shell function, so that $! is the agent)
  setpriv --reuid=$DEMO_UID --regid=$DEMO_UID --clear-groups env HOME="$D/home" XDG_RUNTIME_DIR="$D/run" \
    XDG_STATE_HOME="$D/agent-state" XDG_CACHE_HOME="$D/agent-cache" \
    "$B/cloudseal-agent" --config "$D/agent.conf" </dev/null >"$D/agent.log" 2>&1 &
  AGENT_PID=$!
  local status=
  # the agent logs each finished backup (60 s: a failure bound)
  WAITS_PID=$AGENT_PID python3 "$ROOT/tests/integration/waits.py" text "$D/agent.log" "backup finished" 60 || true
  status=$(agent_as_user "$B/cloudseal" --config "$C" --json agent status 2>/dev/null || true)
  case $(printf '%s' "$status" | grep -o '"name":"backup"[^}]*') in *'"last_result":"ok"'*) ;; *) sed 's/^/     /' "$D/agent.log"; die "no backup from the agent in 60 s" ;; esac
  say "the agent's log (the journal, under systemd):"
  sed 's/^cloudseal-agent: /     /' "$D/agent.log"
  say "$ cloudseal agent status"
  agent_as_user "$B/cloudseal" --config "$C" agent status 2>&1 | sed 's/^/     /'
  ok "backed up by the agent"
}

agent_stop() {
  [ -n "${AGENT_PID:-}" ] || return 0
  say "stop the agent (systemd --user does this after the last session): with lock = logout"
  say "it revokes the key in the keyring and wipes its own copy"
  kill -TERM $AGENT_PID
  wait $AGENT_PID || true
  AGENT_PID=
  tail -n 2 "$D/agent.log" | sed 's/^cloudseal-agent: /     /'
  key_readable && die "the agent left the key in the keyring"
  ok "agent stopped, key locked"
}
