#!/usr/bin/env bash
# Installs the Debian packages Septum's live work needs when they are missing: nftables (`nft`,
# for `septum compile --prove`, `septum apply` and the live dataplane tests), iproute2 (`ip`, for
# the tests' network namespaces), util-linux (`unshare`) and openvswitch-switch (`ovs-vswitchd`,
# `ovs-ofctl`: the OpenFlow backend's proof and live tests start a private switch of their own;
# no system service is started or needed). Needs root and apt-get; otherwise it
# says what is missing and leaves it to you (tests that need them then skip, or fail under CI=true).
set -euo pipefail

missing=()
command -v nft >/dev/null || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
command -v ovs-vswitchd >/dev/null || [ -x /usr/sbin/ovs-vswitchd ] || missing+=(openvswitch-switch)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "septum: installing ${missing[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  }
else
  echo "septum: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) for the live tests" >&2
fi
