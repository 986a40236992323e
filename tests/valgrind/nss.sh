#!/bin/sh
# SPDX-License-Identifier: MIT
# libnss_cloudseal.so.2 under valgrind (memcheck, full leak check): getent
# and id through real glibc NSS in a private mount namespace whose
# /etc/nsswitch.conf lists cloudseal and whose /var/lib/cloudseal holds a
# cache made by the real admin -> publish -> directory-sync path (also run
# under valgrind).  Then a truncated and a missing cache.  Host untouched.
set -eu
O=${O:-build}
B=$(pwd)/$O
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
VG="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
cat > "$d/c.conf" <<EOC
[storage]
url = file://$d/storage
[fleet]
public_key_file = $d/fleet.pub
cache = $d/directory.cache
state = $d/directory.state
EOC
mkdir "$d/storage"
A="$B/cloudseal --config $d/c.conf admin --source $d/dir.json"
( cd "$d" && $VG $A keygen >/dev/null )
$VG $A init >/dev/null
$VG $A add-user vgalice --uid 1400001 >/dev/null
$VG $A add-user vgbob --uid 1400002 >/dev/null
$VG $A add-group vgdevs --gid 1400100 --members vgalice,vgbob >/dev/null
$VG $A show --json >/dev/null
$VG $A publish --secret-key "$d/fleet.key" >/dev/null
$VG "$B/cloudseal-helper" --config "$d/c.conf" directory-sync >/dev/null
printf 'passwd: files cloudseal\ngroup: files cloudseal\n' > "$d/nsswitch.conf"
export d B VG
unshare -m sh -eu -c '
mount --make-rprivate /
mount --bind "$d/nsswitch.conf" /etc/nsswitch.conf
mount -t tmpfs -o mode=755 tmpfs /var/lib
mkdir /var/lib/cloudseal
cp "$d/directory.cache" /var/lib/cloudseal/directory.cache
export LD_LIBRARY_PATH="$B"
# into a file, then grep: a pipe into grep would lose valgrind'"'"'s exit 99
vg_has() { pat=$1; shift; $VG "$@" > "$d/out"; grep -q "$pat" "$d/out"; }
vg_has "^vgalice:x:1400001:" getent passwd vgalice
vg_has "^vgbob:" getent passwd 1400002
vg_has "^vgdevs:x:1400100:vgalice,vgbob$" getent group vgdevs
$VG getent group 1400100 >/dev/null
$VG getent passwd > /dev/null
$VG getent group > /dev/null
vg_has "1400100(vgdevs)" id vgbob
$VG getent passwd nosuchuser && exit 1 || [ $? -eq 2 ]
head -c 200 "$d/directory.cache" > /var/lib/cloudseal/directory.cache
$VG getent passwd vgalice && exit 1 || [ $? -eq 2 ]
rm /var/lib/cloudseal/directory.cache
$VG getent passwd vgalice && exit 1 || [ $? -eq 2 ]
$VG getent passwd root >/dev/null
' && echo "valgrind nss: ok"
