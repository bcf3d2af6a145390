#!/bin/sh
# Start pueued in the background and sshd in the foreground (PID 1's child of note).
set -eu

# Host keys are made per container, not baked into the image.
ssh-keygen -A

install -d -m 700 /root/.ssh
if [ -s /authorized_keys ]; then
  install -m 600 /authorized_keys /root/.ssh/authorized_keys
else
  echo "sweep-remote: no public key mounted at /authorized_keys (set SWEEP_AUTHORIZED_KEYS); ssh logins will fail" >&2
fi

# The container's default pueue daemon, for poking at by hand; sweep itself may
# start its own daemon with a private config. setsid -f rather than `pueued -d`:
# -d keeps our stdio open in the child.
setsid -f pueued </dev/null >/var/log/pueued.log 2>&1

exec /usr/sbin/sshd -D -e
