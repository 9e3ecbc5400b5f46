#!/usr/bin/env bash
# dockerd for the test suite: `start` starts one unless a daemon already answers (and notes that it did),
# `stop` stops only a daemon that `start` started. The suite needs a daemon (the docker backend's tests);
# `make up` does not start one, so that `backend: auto` picks what the host itself offers.
# It runs without touching the host's firewall (--iptables=false): published ports go through docker-proxy.
set -euo pipefail
mark=/run/mvm-test-dockerd.pid
case "${1:-}" in
  start)
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && exit 0
    if command -v dockerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "tests: starting dockerd"
      nohup dockerd --iptables=false --ip-masq=false >/var/log/mvm-dockerd.log 2>&1 &
      echo $! > "$mark"
      for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
      docker version --format 'tests: dockerd {{.Server.Version}} answers' || { tail -n 20 /var/log/mvm-dockerd.log; exit 1; }
    fi
    ;;
  stop)
    [ -f "$mark" ] || exit 0
    pid=$(cat "$mark"); rm -f "$mark"
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = dockerd ]; then
      echo "tests: stopping the dockerd they started"
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
