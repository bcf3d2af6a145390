#!/bin/sh
# The "remote" container: sshd in the foreground, and beside it the pueue daemon
# that sweep queues its tasks into.
set -eu

# Host keys live in the remote-hostkeys volume: made once, then kept when the
# container is recreated (a rebuilt image, `docker compose up --build`), so the key
# in your known_hosts stays valid; sweep's ssh runs with BatchMode=yes and cannot
# accept a changed key. `docker compose down -v` deletes the volume and the key.
keys=/var/lib/sweep-remote/ssh
install -d -m 700 "$keys"
if [ ! -s "$keys/ssh_host_ed25519_key" ]; then
  ssh-keygen -q -t ed25519 -N '' -C sweep-remote -f "$keys/ssh_host_ed25519_key"
fi

install -d -m 700 /root/.ssh
if [ -s /authorized_keys ]; then
  install -m 600 /authorized_keys /root/.ssh/authorized_keys
else
  echo "sweep-remote: no public key mounted at /authorized_keys (set SWEEP_AUTHORIZED_KEYS to the absolute path of one); ssh logins will fail" >&2
fi

# The host's pueue daemon, as on a real worker host: sweep submit-all queues into
# whichever daemon answers there and never starts one itself. setsid -f rather
# than `pueued -d`: -d keeps our stdio open in the child.
setsid -f pueued </dev/null >/var/log/pueued.log 2>&1

exec /usr/sbin/sshd -D -e
