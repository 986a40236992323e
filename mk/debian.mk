# SPDX-License-Identifier: MIT
# Debian packaging (debian/): build the .debs and check them on a real system.
#
#   make deb        dpkg-buildpackage -us -uc -b on a copy of the tree in
#                   build-deb/src (never in the working tree: the package
#                   build runs `make clean`), then lintian; fails on a
#                   lintian error.  The .debs land in build-deb/.
#   make check-deb  make deb, then install the packages into a booted
#                   Debian 12 container (systemd-nspawn), enable them with
#                   pam-auth-update, log a user in through the installed PAM
#                   stack, and purge: /etc/pam.d/common-* and
#                   /etc/nsswitch.conf must be byte-identical to before.
#                   See tests/debian/check-deb.sh.
DEB_O       ?= build-deb
DEB_VERSION  = $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
DEB_ARCH     = $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
DEB_CHANGES  = $(DEB_O)/cloudseal_$(DEB_VERSION)_$(DEB_ARCH).changes
# The unit tests already run in `make check`; `make deb DEB_BUILD_OPTIONS=`
# runs them inside the package build as well.
DEB_BUILD_OPTIONS ?= nocheck parallel=2

.PHONY: deb check-deb
deb:
	@command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null || \
	  { echo "deb: needs dpkg-dev, debhelper, dh-nss, lintian: run make deps (scripts/install-deps.sh)" >&2; exit 1; }
	rm -rf $(DEB_O) && mkdir -p $(DEB_O)/src
	@# The files git knows about (tracked or new, not ignored), as they are now.
	git ls-files -z -c -o --exclude-standard | \
	  xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	  tar --null -T - -cf - | tar -xf - -C $(DEB_O)/src
	@# A clean environment: no make flags or variables of this make leak in.
	cd $(DEB_O)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" \
	  dpkg-buildpackage -us -uc -b > ../dpkg-buildpackage.log 2>&1 || \
	  { tail -n 40 ../dpkg-buildpackage.log; echo "deb: dpkg-buildpackage failed; full log in $(DEB_O)/dpkg-buildpackage.log" >&2; exit 1; }
	@ls -l $(DEB_O)/*.deb
	@# root is fine here (CI runs as root); --fail-on error: warnings are
	@# fixed or overridden with a reason in debian/*.lintian-overrides.
	lintian --fail-on error --display-info \
	  $(DEB_CHANGES) > $(DEB_O)/lintian.log 2>&1; rc=$$?; cat $(DEB_O)/lintian.log; \
	  test $$rc -eq 0 || { echo "deb: lintian reports errors (above)" >&2; exit 1; }
	@echo "deb: packages built, lintian clean of errors (tags above, if any)"

check-deb: deb
	DEB_O=$(DEB_O) tests/debian/check-deb.sh
