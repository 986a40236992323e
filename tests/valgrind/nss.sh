#!/bin/sh
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
$VG getent passwd vgalice | grep -q "^vgalice:x:1400001:"
$VG getent passwd 1400002 | grep -q "^vgbob:"
$VG getent group vgdevs | grep -q "^vgdevs:x:1400100:vgalice,vgbob$"
$VG getent group 1400100 >/dev/null
$VG getent passwd > /dev/null
$VG getent group > /dev/null
$VG id vgbob | grep -q "1400100(vgdevs)"
$VG getent passwd nosuchuser && exit 1 || [ $? -eq 2 ]
head -c 200 "$d/directory.cache" > /var/lib/cloudseal/directory.cache
$VG getent passwd vgalice && exit 1 || [ $? -eq 2 ]
rm /var/lib/cloudseal/directory.cache
$VG getent passwd vgalice && exit 1 || [ $? -eq 2 ]
$VG getent passwd root >/dev/null
' && echo "valgrind nss: ok"
