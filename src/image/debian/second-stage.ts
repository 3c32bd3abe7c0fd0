/**
 * The second stage of a Debian root disk, run inside a Corral guest booted from the disk (as the
 * command of `corral run`, under Debian's /bin/sh). The host has unpacked every package as dpkg
 * would (unpack.ts); what needs the guest's architecture runs here, under the guest's own dpkg:
 *   1. each package's preinst ("install"), which dpkg runs before unpacking: base-passwd first
 *      (it makes /etc/passwd and /etc/group, which the others' scripts use), then apt's order;
 *   2. `dpkg --configure -a`: every postinst, in dpkg's own dependency order (Essential packages
 *      work unconfigured, Debian policy §3.8, so the order within them does not matter);
 *   3. `dpkg --audit` must report nothing.
 * Services are not started meanwhile (policy-rc.d, invoke-rc.d(8): 101 = action forbidden).
 */

/** Where the host leaves the list of preinsts on the disk; removed by the second stage. */
export const BUILD_DIR = "/var/cache/corral-build";
export const PREINST_LIST = "preinst.list";
export const STAGE_DONE = "corral: second stage done";

export const SECOND_STAGE = `set -e
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LC_ALL=C.UTF-8 LANG=C.UTF-8
export DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= DPKG_RUNNING_VERSION=$(dpkg-query -W -f='\${Version}' dpkg)
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
arch=$(dpkg --print-architecture)
while read -r p; do
  echo "Running preinst of $p"
  DPKG_MAINTSCRIPT_PACKAGE=\${p%%:*} DPKG_MAINTSCRIPT_ARCH=$arch DPKG_MAINTSCRIPT_NAME=preinst \\
    /var/lib/dpkg/info/$p.preinst install
done < ${BUILD_DIR}/${PREINST_LIST}
dpkg --force-unsafe-io --configure -a
rm -f /usr/sbin/policy-rc.d
rm -rf ${BUILD_DIR} /corral
audit=$(dpkg --audit)
if [ -n "$audit" ]; then echo "$audit"; exit 1; fi
sync
echo "${STAGE_DONE}"
`;
