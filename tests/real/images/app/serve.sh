#!/bin/sh
# Writes what the workload sees (env, config file, its secret's mode, owner and digest, its user) and serves it.
mkdir -p /tmp/www
{
  echo "greeting=$GREETING"
  echo "config=$(cat /mvm/config/app.conf | tr '\n' ' ')"
  echo "secret=$(stat -c '%a %U' /mvm/secrets/token) $(sha256sum < /mvm/secrets/token | cut -c1-64)"
  echo "secrets_dir=$(stat -c '%a %U' /mvm/secrets)"
  echo "user=$(id -un) cwd=$(pwd)"
} > /tmp/www/index.html
exec httpd -f -p 8080 -h /tmp/www
