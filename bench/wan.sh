#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/wan.sh: bench/s3.sh over a WAN link: the tools run in a network
# namespace and reach Ceph RGW through a veth shaped with tc TBF to
# WAN_MBIT (200) Mbit/s each way plus bench/delay_proxy.py adding
# WAN_DELAY_MS (50) each way (this kernel has no netem).  Same knobs and
# output as bench/s3.sh; the table adds the rate on the wire per phase.
exec "$(dirname "$0")/s3.sh" --wan "${WAN_MBIT:-200}" "${WAN_DELAY_MS:-50}" "$@"
