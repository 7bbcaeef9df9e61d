/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bad configurations: each case writes one broken file into a temporary --root tree that is
 * otherwise valid, loads it through the real code, and asserts the one error it must produce,
 * as config_error_format() prints it: the exact "FILE:LINE: [Section] Key=: " prefix and a part
 * of the message saying what was expected. */
#include "config.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

typedef struct BadCase {
        const char *name;
        const char *file;     /* below the root */
        const char *contents; /* of that file */
        const char *job;      /* job to load; NULL: only mhtest.conf and hosts.d */
        unsigned line;        /* 0: the error names the file without a line */
        const char *section;  /* "Guest g" for [Guest g]; NULL: no section in the error */
        const char *key;      /* NULL: no key in the error */
        const char *message;  /* a part of the message */
} BadCase;

#define JOB "/etc/mhtest/jobs.d/bad.conf"
#define HOSTS "[Job]\nHosts=host1 host2\n"

static const BadCase cases[] = {
        /* syntax */
        { "unknown section", JOB, "[Job]\n[Gust vm]\nMemory=1G\n", "bad", 2, "Gust vm", NULL,
          "unknown section (expected one of: Job, Nested" },
        { "unknown key", JOB, "[Job]\nDescription=x\nDescripton=typo\n", "bad", 3, "Job", "Descripton",
          "unknown key in [Job]" },
        { "syntax error line", JOB, "[Job]\nDescription=x\nthis line has no equals sign\n", "bad", 3, NULL,
          NULL, "expected 'Key=value' or '[Section]'" },
        { "section header not closed", JOB, "[Job]\n[Nested\nEnable=yes\n", "bad", 2, NULL, NULL,
          "without closing ']'" },
        { "assignment outside of a section", JOB, "# comment\nDescription=x\n[Job]\n", "bad", 2, NULL, NULL,
          "outside of any section" },
        { "unnamed [Bridge]", JOB, "[Job]\n[Bridge]\nSTP=no\n", "bad", 2, "Bridge", NULL,
          "section needs a name, like [Bridge NAME]" },
        { "named [Job]", JOB, "[Job main]\n", "bad", 1, "Job main", NULL, "section [Job] takes no name" },
        { "unknown key in [Match]", "/etc/mhtest/jobs.d/bad.conf.d/10-m.conf", "[Match]\nHostname=host1\n",
          "bad", 2, "Match", "Hostname", "unknown key (expected Host=)" },
        { "[Match] in mhtest.conf", "/etc/mhtest/mhtest.conf.d/10-m.conf", "\n[Match]\n", NULL, 2, "Match",
          NULL, "only allowed in job files" },
        { "empty [Match] Host=", "/etc/mhtest/jobs.d/bad.conf.d/10-m.conf", "[Match]\nHost=\n", "bad", 2,
          "Match", "Host", "expected host name patterns" },

        /* values */
        { "bad bool", JOB, "[Job]\n[Nested]\nReload=maybe\n", "bad", 3, "Nested", "Reload",
          "invalid value \"maybe\" (expected a boolean)" },
        { "bad enum", JOB, "[Nested]\nEnable=sometimes\n", "bad", 2, "Nested", "Enable",
          "(expected yes, no or auto)" },
        { "bad size", JOB, "[Guest g]\nImage=/g.img\nMemory=12Q\n", "bad", 3, "Guest g", "Memory",
          "invalid value \"12Q\" (expected a size like 1G)" },
        { "bad size with fraction", JOB, "[Testpmd]\nPorts=null:a\nMemory=1.5G\n", "bad", 3, "Testpmd",
          "Memory", "expected a size" },
        { "bad time span", JOB, "[Storage s]\nWhat=srv:/x\nWhere=/mnt/s\nTimeoutSec=soon\n", "bad", 4,
          "Storage s", "TimeoutSec", "expected a time span" },
        { "bad PCI address", JOB, "[VFIO]\nDevices=0000:04:00.0 04:00.9\n", "bad", 2, "VFIO", "Devices",
          "invalid item \"04:00.9\" (expected PCI addresses" },
        { "bad CPU list", JOB, "[Guest g]\nImage=/g.img\nVCPUPinning=4-2\n", "bad", 3, "Guest g",
          "VCPUPinning", "expected auto or a CPU list" },
        { "bad testpmd cores", JOB, "[Testpmd]\nPorts=null:a\nCores=two\n", "bad", 3, "Testpmd", "Cores",
          "expected auto or a CPU list" },
        { "bad MAC", JOB, "[Bridge br0]\nMACAddress=52:54:00:12:34\n", "bad", 2, "Bridge br0", "MACAddress",
          "expected a unicast MAC" },
        { "multicast MAC", JOB, "[Bridge br0]\nMACAddress=01:00:5e:00:00:01\n", "bad", 2, "Bridge br0",
          "MACAddress", "invalid value \"01:00:5e:00:00:01\"" },
        { "multicast guest MAC", JOB,
          "[Bridge br0]\n[Guest g]\nImage=/g.img\nInterfaces=bridge:br0/03:00:00:00:00:01\n", "bad", 4,
          "Guest g", "Interfaces", "invalid item \"bridge:br0/03:00:00:00:00:01\"" },
        { "bad CIDR", JOB, "[Bridge br0]\nAddress=10.0.0.1/24 10.0.0.2/33\n", "bad", 2, "Bridge br0",
          "Address", "invalid item \"10.0.0.2/33\" (expected addresses with prefix" },
        { "CIDR without prefix", JOB, "[Bridge br0]\nAddress=10.0.0.1\n", "bad", 2, "Bridge br0", "Address",
          "invalid item \"10.0.0.1\"" },
        { "relative path", JOB, "[Guest g]\nKernel=/vmlinuz\nInitrd=boot/initrd.img\n", "bad", 3, "Guest g",
          "Initrd", "expected an absolute path" },
        { "bad forward mode", JOB, "[Testpmd]\nPorts=null:a\nForwardMode=fast\n", "bad", 3, "Testpmd",
          "ForwardMode", "io, mac, macswap" },
        { "bad testpmd port", JOB, "[Testpmd]\nPorts=null:a tap:x\n", "bad", 2, "Testpmd", "Ports",
          "invalid item \"tap:x\"" },
        { "bad guest interface", JOB, "[Guest g]\nImage=/g.img\nInterfaces=wifi:x\n", "bad", 3, "Guest g",
          "Interfaces", "invalid item \"wifi:x\"" },
        { "bad hugepage size", JOB, "[HugePages]\nPages=3M:4\n", "bad", 2, "HugePages", "Pages",
          "invalid item \"3M:4\" (expected SIZE:COUNT" },
        { "zero hugepages", JOB, "[HugePages]\nPages=2M:0\n", "bad", 2, "HugePages", "Pages",
          "invalid item" },
        { "hugepage amount not a multiple", JOB, "[HugePages]\nPages=2M:3M\n", "bad", 2, "HugePages",
          "Pages", "invalid item \"2M:3M\"" },
        { "unbalanced quotes", JOB, "[Testpmd]\nPorts=null:a\nExtraArguments=--x \"y\n", "bad", 3, "Testpmd",
          "ExtraArguments", "invalid value \"--x \"y\" (expected testpmd arguments)" },
        { "bad libvirt URI", "/etc/mhtest/hosts.d/host3.conf",
          "[Host]\nAddress=192.0.2.3\nLibvirtURI=qemu\n", NULL, 3, "Host", "LibvirtURI",
          "expected a libvirt URI" },
        { "bad host address", "/etc/mhtest/hosts.d/host3.conf",
          "[Host]\nAddress=192.0.2.3\nMigrationAddress=not:an address\n", NULL, 3, "Host",
          "MigrationAddress", "expected a host name or IP address" },

        /* ranges */
        { "VCPUs=0", JOB, "[Guest g]\nImage=/g.img\nVCPUs=0\n", "bad", 3, "Guest g", "VCPUs",
          "a number 1-512" },
        { "VCPUs too many", JOB, "[Guest g]\nImage=/g.img\nVCPUs=513\n", "bad", 3, "Guest g", "VCPUs",
          "a number 1-512" },
        { "VLAN id out of range", JOB, "[Bridge br0]\nDefaultPVID=4095\n", "bad", 2, "Bridge br0",
          "DefaultPVID", "a VLAN id 1-4094" },
        { "MTU too small", JOB, "[Bridge br0]\nMTU=67\n", "bad", 2, "Bridge br0", "MTU", "an MTU 68-65535" },
        { "SSH port out of range", "/etc/mhtest/hosts.d/host3.conf",
          "[Host]\nAddress=192.0.2.3\nSSHPort=70000\n", NULL, 3, "Host", "SSHPort",
          "a port number 1-65535" },
        { "negative number", JOB, "[Bridge br0]\nMTU=-1\n", "bad", 2, "Bridge br0", "MTU",
          "an MTU 68-65535" },
        { "number too big for unsigned", JOB, "[Testpmd]\nPorts=null:a\nTotalMbufs=4294967296\n", "bad", 3,
          "Testpmd", "TotalMbufs", "invalid value" },

        /* names */
        { "bad guest name", JOB, "[Job]\n[Guest web:1]\nImage=/g.img\n", "bad", 2, "Guest web:1", NULL,
          "invalid name \"web:1\"" },
        { "bad bridge name", JOB, "[Bridge br-name-too-long]\n", "bad", 1, "Bridge br-name-too-long", NULL,
          "an interface name of at most 15 characters" },
        { "bad job name", "/etc/mhtest/jobs.d/bad@job.conf", "[Job]\n", "bad@job", 0, NULL, NULL,
          "invalid job name \"bad@job\"" },
        { "bad host name in hosts.d", "/etc/mhtest/hosts.d/host3.conf",
          "[Host]\nName=-host\nAddress=192.0.2.3\n", NULL, 2, "Host", "Name", "expected a host name" },
        { "host file name not a host name", "/etc/mhtest/hosts.d/bad_host!.conf",
          "[Host]\nAddress=192.0.2.3\n", NULL, 0, "Host", "Name", "file name is not a valid host name" },
        { "host without Address=", "/etc/mhtest/hosts.d/host3.conf", "# no address\n[Host]\nSSHUser=root\n",
          NULL, 2, "Host", "Address", "every host needs Address=" },
        { "host declared twice", "/etc/mhtest/hosts.d/host3.conf", "[Host]\nName=host1\nAddress=192.0.2.3\n",
          NULL, 2, "Host", "Name", "host \"host1\" is already declared in" },

        /* cross references */
        { "job host not in hosts.d", JOB, "[Job]\nHosts=host1 host9\n", "bad", 2, "Job", "Hosts",
          "host \"host9\" is not declared in hosts.d/" },
        { "guest host not in the job", JOB, HOSTS "[Guest g]\nImage=/g.img\nHost=host3\n", "bad", 5,
          "Guest g", "Host", "host \"host3\" is not in [Job] Hosts=" },
        { "migration guest not in the job", JOB,
          HOSTS "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g h\nFrom=host1\nTo=host2\n", "bad", 6,
          "Migration m", "Guests", "guest \"h\" has no [Guest h] section" },
        { "migration From == To", JOB,
          HOSTS "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g\nFrom=host1\nTo=host1\n", "bad", 8,
          "Migration m", "To", "same host as From=" },
        { "migration From not in Hosts", JOB,
          HOSTS "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g\nFrom=host3\nTo=host2\n", "bad", 7,
          "Migration m", "From", "host \"host3\" is not in [Job] Hosts=" },
        { "migration To not in Hosts", JOB,
          HOSTS "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g\nFrom=host1\nTo=host3\n", "bad", 8,
          "Migration m", "To", "host \"host3\" is not in [Job] Hosts=" },
        { "migration without From=", JOB,
          HOSTS "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g\nTo=host2\n", "bad", 5, "Migration m",
          "From", "missing (expected a host of the job)" },
        { "migration without Hosts=", JOB,
          "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g\nFrom=host1\nTo=host2\n", "bad", 5,
          "Migration m", "From", "migrations need [Job] Hosts=" },
        { "test without Exec=", JOB, HOSTS "[Test t]\nHost=host1\n", "bad", 3, "Test t", "Exec",
          "missing (expected a command line)" },
        { "test without a place", JOB, HOSTS "[Test t]\nExec=true\n", "bad", 3, "Test t", "Host",
          "missing (expected Host=, Guest= or Role=)" },
        { "test host not in the job", JOB, HOSTS "[Test t]\nHost=host1 host3\nExec=true\n", "bad", 4,
          "Test t", "Host", "host \"host3\" is not in [Job] Hosts=" },
        { "test guest not in the job", JOB, HOSTS "[Test t]\nGuest=g\nExec=true\n", "bad", 4, "Test t",
          "Guest", "guest \"g\" has no [Guest g] section" },
        { "test guest without a management address", JOB,
          HOSTS "[Guest g]\nImage=/g.img\n[Test t]\nGuest=g\nExec=true\n", "bad", 6, "Test t", "Guest",
          "[Guest g] has no ManagementAddress= (a guest shell connects to the guest's sshd there" },
        { "test guest instance beyond Count=", JOB,
          HOSTS "[Guest g]\nImage=/g.img\nCount=2\n[Test t]\nGuest=g-3\nExec=true\n", "bad", 7, "Test t",
          "Guest", "guest \"g-3\" has no [Guest g-3] section and is no instance GUEST-N of a Count= guest" },
        { "test role of a guest without a management address", JOB,
          HOSTS "[Guest g]\nImage=/g.img\nRole=vm\n[Test t]\nRole=vm\nExec=true\n", "bad", 7, "Test t",
          "Role", "[Guest g] of Role=vm has no ManagementAddress=" },
        { "guest shell without [Job] Hosts=", JOB,
          "[Guest g]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:10\nManagementAddress=10.9.0.10/24\n"
          "[Test t]\nGuest=g\nExec=true\n",
          "bad", 6, "Test t", "Guest",
          "guest shells need [Job] Hosts= listing the hosts the guests run on" },
        { "test SSHIdentity= relative", JOB,
          HOSTS
          "[Guest g]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:10\nManagementAddress=10.9.0.10/24\n"
          "[Test t]\nGuest=g\nExec=true\nSSHIdentity=id_ed25519\n",
          "bad", 10, "Test t", "SSHIdentity", "id_ed25519" },
        { "test role of no guest", JOB,
          HOSTS "[Guest g]\nImage=/g.img\nRole=worker\n[Test t]\nRole=vm\nExec=true\n", "bad", 7, "Test t",
          "Role", "no [Guest] of the job has Role=vm" },
        { "test After= unknown", JOB, HOSTS "[Test t]\nHost=host1\nExec=true\nAfter=u\n", "bad", 6, "Test t",
          "After", "\"u\" has no [Test u] or [Migration u] section" },
        { "test After= itself", JOB, HOSTS "[Test t]\nHost=host1\nExec=true\nAfter=t\n", "bad", 6, "Test t",
          "After", "\"t\" leads back to this test (a cycle)" },
        { "test Environment= not an assignment", JOB,
          HOSTS "[Test t]\nHost=host1\nExec=true\nEnvironment=A=1 2B=x\n", "bad", 6, "Test t", "Environment",
          "invalid item \"2B=x\"" },
        { "migration WaitFor= without tests", JOB,
          HOSTS "[Guest g]\nKernel=/g.vmlinuz\n[Migration m]\nGuests=g\nFrom=host1\nTo=host2\nWaitFor=go\n",
          "bad", 9, "Migration m", "WaitFor", "needs a [Test] section" },
        { "migration WaitFor= with a space", JOB,
          HOSTS
          "[Guest g]\nKernel=/g.vmlinuz\n[Test t]\nHost=host1\nExec=true\n[Migration m]\nGuests=g\nFrom=host1\nTo=host2\nWaitFor=go now\n",
          "bad", 12, "Migration m", "WaitFor", "expected a LAVA message ID" },
        { "job Coordinator= without a port", JOB, "[Job]\nCoordinator=192.0.2.1\n", "bad", 2, "Job",
          "Coordinator", "expected the HOST:PORT of a lava-coordinator" },
        { "testpmd vfio port not in [VFIO]", JOB,
          "[VFIO]\nDevices=0000:04:00.0\n[Testpmd]\nPorts=vfio:0000:04:00.0 vfio:04:00.1\n", "bad", 4,
          "Testpmd", "Ports", "port \"vfio:0000:04:00.1\" is not a device of [VFIO] Devices=" },
        { "testpmd without ports", JOB, "[Testpmd]\nForwardMode=io\n", "bad", 1, "Testpmd", "Ports",
          "no ports (expected at least one port)" },
        { "testpmd with one core", JOB, "[Testpmd]\nPorts=null:a\nCores=1\n", "bad", 3, "Testpmd", "Cores",
          "needs at least two CPUs" },
        { "guest vhost-user port not in [Testpmd]", JOB,
          "[Testpmd]\nPorts=vhost-user:v0\n[Guest g]\nImage=/g.img\nInterfaces=vhost-user:v0 vhost-user:v1\n",
          "bad", 5, "Guest g", "Interfaces",
          "\"vhost-user:v1\" is not a vhost-user port of [Testpmd] Ports=" },
        { "guest bridge not in the job", JOB, "[Guest g]\nImage=/g.img\nInterfaces=bridge:br9\n", "bad", 3,
          "Guest g", "Interfaces", "names no [Bridge br9] section" },
        { "KernelCommandLine without Kernel", JOB, "[Guest g]\nImage=/g.img\nKernelCommandLine=quiet\n",
          "bad", 3, "Guest g", "KernelCommandLine", "needs Kernel=" },
        { "Disks repeats Image", JOB, "[Guest g]\nImage=/g.img\nDisks=/d.img /g.img\n", "bad", 3, "Guest g",
          "Disks", "\"/g.img\" is already the guest's Image=" },
        { "relative disk", JOB, "[Guest g]\nImage=/g.img\nDisks=/d.img d2.img\n", "bad", 3, "Guest g",
          "Disks", "invalid item \"d2.img\"" },
        { "too many disks", JOB,
          "[Guest g]\nKernel=/k\nDisks=/1 /2 /3 /4 /5 /6 /7 /8 /9 /10 /11 /12 /13 /14 /15 /16 /17 /18 /19 /20 /21 "
          "/22 /23 /24 /25 /26\n",
          "bad", 3, "Guest g", "Disks", "26 disks (expected at most 25 besides Image=)" },
        { "bad NestedVirtualization", JOB, "[Guest g]\nImage=/g.img\nNestedVirtualization=svm\n", "bad", 3,
          "Guest g", "NestedVirtualization", "invalid value \"svm\" (expected a boolean)" },
        { "bad VCPUPinning", JOB, "[Guest g]\nImage=/g.img\nVCPUPinning=automatic\n", "bad", 3, "Guest g",
          "VCPUPinning", "expected auto or a CPU list" },
        { "HugePageSize without HugePages=yes", JOB,
          "[HugePages]\nPages=2M:64\n[Guest g]\nImage=/g.img\n"
          "HugePageSize=2M\n",
          "bad", 5, "Guest g", "HugePageSize", "needs HugePages=yes" },
        { "HugePageSize not in Pages", JOB,
          "[HugePages]\nPages=2M:512\n[Guest g]\nImage=/g.img\n"
          "HugePages=yes\nHugePageSize=1G\n",
          "bad", 6, "Guest g", "HugePageSize", "no page size of [HugePages] Pages= matches" },
        { "guest memory not a multiple of the page size", JOB,
          "[HugePages]\nPages=1G:4\n[Guest g]\n"
          "Image=/g.img\nHugePages=yes\nMemory=1536M\n",
          "bad", 6, "Guest g", "Memory", "not a multiple of the guest's 1G hugepages" },
        { "guests need more hugepages than requested", JOB,
          "[HugePages]\nPages=2M:256@0 1G:1\n[Guest g]\n"
          "Image=/g.img\nHugePages=yes\nHugePageSize=2M\nMemory=256M\nCount=3\n",
          "bad", 7, "Guest g", "Memory", "3 guest(s) need more than the 512MiB of 2M pages" },
        { "vhost-user port on two interfaces", JOB,
          "[Testpmd]\nPorts=vhost-user:v0 vhost-user:v1\n[Guest a]\nImage=/a.img\nInterfaces=vhost-user:v0\n"
          "[Guest b]\nImage=/b.img\nInterfaces=vhost-user:v1 vhost-user:v0/52:54:00:00:00:02\n",
          "bad", 8, "Guest b", "Interfaces", "port \"v0\" is also an interface of [Guest a]" },
        { "vhost-user port and Count", JOB,
          "[Testpmd]\nPorts=vhost-user:v0\n[Guest a]\nImage=/a.img\nCount=2\nInterfaces=vhost-user:v0\n",
          "bad", 6, "Guest a", "Interfaces", "a vhost-user port connects one guest, not Count=2" },
        { "neither Image nor Kernel", JOB, "[Job]\n[Guest g]\nMemory=1G\n", "bad", 2, "Guest g", "Image",
          "missing (expected Image=, Kernel= or Launcher=)" },
        { "Count instance named like another guest", JOB,
          "[Guest vm]\nImage=/a.img\nCount=3\n[Guest vm-2]\nImage=/b.img\n", "bad", 3, "Guest vm", "Count",
          "instance vm-2 of this guest is also the name of [Guest vm-2]" },
        { "Count with a fixed MAC", JOB,
          "[Bridge br0]\n[Guest vm]\nImage=/a.img\nCount=2\nInterfaces=bridge:br0/52:54:00:00:00:01\n",
          "bad", 5, "Guest vm", "Interfaces", "a fixed MAC address is for one guest, not Count=2" },
        { "Count too high", JOB, "[Guest vm]\nImage=/a.img\nCount=65\n", "bad", 3, "Guest vm", "Count",
          "expected a number 1-64" },
        { "bad Role", JOB, "[Guest vm]\nImage=/a.img\nRole=a/b\n", "bad", 3, "Guest vm", "Role",
          "expected a role name" },
        { "bad AutoStart", JOB, "[Guest vm]\nImage=/a.img\nAutoStart=later\n", "bad", 3, "Guest vm",
          "AutoStart", "expected a boolean" },
        { "Launcher with Kernel", JOB,
          "[Guest vm]\nLauncher=/usr/bin/qemu-system-x86_64 -nographic\nKernel=/vmlinuz\n", "bad", 3,
          "Guest vm", "Kernel", "does not apply to a guest with Launcher=" },
        { "Launcher with Memory", JOB, "[Guest vm]\nMemory=1G\nLauncher=qemu-system-x86_64\n", "bad", 2,
          "Guest vm", "Memory", "does not apply to a guest with Launcher=" },
        { "Launcher guest migrated", JOB,
          HOSTS "[Guest vm]\nLauncher=qemu-system-x86_64\n[Migration m]\nGuests=vm\nFrom=host1\nTo=host2\n",
          "bad", 6, "Migration m", "Guests", "guest \"vm\" has Launcher= and cannot migrate" },
        { "Count guest migrated", JOB,
          HOSTS "[Guest vm]\nKernel=/vmlinuz\nCount=2\n[Migration m]\nGuests=vm\nFrom=host1\nTo=host2\n",
          "bad", 7, "Migration m", "Guests",
          "guest \"vm\" has Count=2: a group of instances cannot migrate" },
        { "Initrd without Kernel", JOB, "[Guest g]\nImage=/g.img\nInitrd=/initrd.img\n", "bad", 3, "Guest g",
          "Initrd", "needs Kernel=" },
        { "guest hugepages without [HugePages]", JOB, "[Guest g]\nImage=/g.img\nHugePages=yes\n", "bad", 3,
          "Guest g", "HugePages", "needs [HugePages] Pages=" },
        { "fewer pinned CPUs than vCPUs", JOB, "[Guest g]\nImage=/g.img\nVCPUs=3\nVCPUPinning=4-5\n", "bad",
          4, "Guest g", "VCPUPinning", "has fewer CPUs than VCPUs=3" },
        { "management address not IPv4 CIDR", JOB,
          "[Guest g]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:10\nManagementAddress=192.168.200.10\n",
          "bad", 4, "Guest g", "ManagementAddress", "an IPv4 address with its prefix length" },
        { "management address IPv6", JOB,
          "[Guest g]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:10\nManagementAddress=fd00::10/64\n",
          "bad", 4, "Guest g", "ManagementAddress", "invalid value \"fd00::10/64\"" },
        { "management address without a MAC", JOB,
          "[Guest g]\nImage=/g.img\nInterfaces=management\nManagementAddress=192.168.200.10/24\n", "bad", 4,
          "Guest g", "ManagementAddress", "exactly one management interface with a MAC address" },
        { "management address without an interface", JOB,
          "[Guest g]\nImage=/g.img\nManagementAddress=192.168.200.10/24\n", "bad", 3, "Guest g",
          "ManagementAddress", "exactly one management interface with a MAC address" },
        { "management network without an interface", JOB,
          "[Guest g]\nImage=/g.img\nManagementNetwork=mgmt\n", "bad", 3, "Guest g", "ManagementNetwork",
          "needs a management interface in Interfaces=" },
        { "ssh forward without management address", JOB, "[Guest g]\nImage=/g.img\nSSHForward=2222\n", "bad",
          3, "Guest g", "SSHForward", "needs ManagementAddress=" },
        { "ssh forward port 0", JOB, "[Guest g]\nImage=/g.img\nSSHForward=0\n", "bad", 3, "Guest g",
          "SSHForward", "expected a TCP port 1-65535" },
        { "ssh forward port twice", JOB,
          "[Guest a]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:10\nManagementAddress=10.9.0.10/24\n"
          "SSHForward=2222\n[Guest b]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:11\n"
          "ManagementAddress=10.9.0.11/24\nSSHForward=2222\n",
          "bad", 10, "Guest b", "SSHForward", "port 2222 is also forwarded for [Guest a]" },
        { "management address twice", JOB,
          "[Guest a]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:10\nManagementAddress=10.9.0.10/24\n"
          "[Guest b]\nImage=/g.img\nInterfaces=management/52:54:00:00:00:11\nManagementAddress=10.9.0.10/24\n",
          "bad", 8, "Guest b", "ManagementAddress", "10.9.0.10 is also the address of [Guest a]" },
        { "relative key file", JOB, "[Guest g]\nImage=/g.img\nSSHAuthorizedKeys=id.pub\n", "bad", 3,
          "Guest g", "SSHAuthorizedKeys",
          "invalid item \"id.pub\" (expected absolute paths of public key files)" },
        { "bad hostname", JOB, "[Guest g]\nImage=/g.img\nHostname=-x\n", "bad", 3, "Guest g", "Hostname",
          "expected a host name" },
        { "duplicate MAC", JOB,
          "[Bridge br0]\n[Guest a]\nImage=/a.img\nInterfaces=bridge:br0/52:54:00:00:00:01\n"
          "[Guest b]\nImage=/b.img\nInterfaces=bridge:br0/52:54:00:00:00:01\n",
          "bad", 7, "Guest b", "Interfaces", "MAC address 52:54:00:00:00:01 is also used by [Guest a]" },
        { "missing What=", JOB, "[Job]\n[Storage images]\nWhere=/var/lib/images\n", "bad", 2,
          "Storage images", "What", "missing (expected a device or server:/export)" },
        { "missing Where=", JOB, "[Storage images]\nWhat=srv:/images\n", "bad", 1, "Storage images", "Where",
          "missing (expected an absolute path)" },
        { "two storages on one mount point", JOB,
          "[Storage a]\nWhat=srv:/a\nWhere=/mnt/x\n[Storage b]\nWhat=srv:/b\nWhere=/mnt/x\n", "bad", 6,
          "Storage b", "Where", "\"/mnt/x\" is also the mount point of [Storage a]" },
        { "bridge port in two bridges", JOB, "[Bridge br0]\nPorts=eth1\n[Bridge br1]\nPorts=eth2 eth1\n",
          "bad", 4, "Bridge br1", "Ports", "port \"eth1\" is already a port of [Bridge br0]" },
        { "same page size twice", JOB, "[HugePages]\nPages=2M:16 2048K:8\n", "bad", 2, "HugePages", "Pages",
          "request the same page size on the same node" },
        { "mount page size not requested", JOB, "[HugePages]\nPages=2M:16\nMountPageSize=1G\n", "bad", 3,
          "HugePages", "MountPageSize", "page size is not one of those in Pages=" },
        { "error in a drop-in", "/run/mhtest/jobs.d/bad.conf.d/50-late.conf", "\n\n[Guest g]\nVCPUs=many\n",
          "bad", 4, "Guest g", "VCPUs", "invalid value \"many\"" },
};

static void write_base(const char *root) {
        test_write(root, "/etc/mhtest/mhtest.conf", "[Host]\nName=host1\n");
        test_write(root, "/etc/mhtest/hosts.d/host1.conf", "[Host]\nAddress=192.0.2.1\n");
        test_write(root, "/etc/mhtest/hosts.d/host2.conf", "[Host]\nAddress=192.0.2.2\n");
        /* declared, but not a host of the jobs below */
        test_write(root, "/usr/lib/mhtest/hosts.d/host3.conf", "[Host]\nAddress=192.0.2.3\n");
        /* the job the drop-in cases add to; the job cases overwrite it */
        test_write(root, "/usr/lib/mhtest/jobs.d/bad.conf", "[Guest g]\nImage=/g.img\n");
}

static void run_case(const char *root, const BadCase *bc) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_free_ char *path = test_path(root, bc->file), *prefix = NULL, *msg = NULL;
        const ConfigError *e;
        size_t n;

        write_base(root);
        test_write(root, bc->file, bc->contents);

        assert_int_equal(config_load(root, &c), 0);
        if (bc->job)
                (void) config_load_job(c, bc->job, &j, &d);
        n = c->diagnostics.n_errors + d.n_errors;
        for (size_t i = 0; i < c->diagnostics.n_errors + d.n_errors; i++) {
                _cleanup_free_ char *m = NULL;
                e = i < c->diagnostics.n_errors ? &c->diagnostics.errors[i]
                                                : &d.errors[i - c->diagnostics.n_errors];
                assert_int_equal(config_error_format(e, &m), 0);
                print_message("  %s: error: %s\n", bc->name, m);
        }
        if (n != 1)
                fail_msg("case \"%s\": expected exactly one error, got %zu", bc->name, n);

        e = c->diagnostics.n_errors > 0 ? &c->diagnostics.errors[0] : &d.errors[0];
        assert_int_equal(config_error_format(e, &msg), 0);
        /* as config_error_format() writes it: "FILE[:LINE]: [SECTION] KEY=: " or "[SECTION]: " */
        asprintf_safe(&prefix, "%s%s%.0u: %s%s%s%s%s", path, bc->line > 0 ? ":" : "", bc->line,
                      bc->section ? "[" : "", strempty(bc->section),
                      bc->section ? (bc->key ? "] " : "]: ") : "", strempty(bc->key), bc->key ? "=: " : "");
        assert_non_null(prefix);
        if (!startswith(msg, prefix))
                fail_msg("case \"%s\":\n  got      \"%s\"\n  expected \"%s...\"", bc->name, msg, prefix);
        if (!strstr(msg + strlen(prefix), bc->message))
                fail_msg("case \"%s\":\n  got      \"%s\"\n  expected a message with \"%s\"", bc->name, msg,
                         bc->message);
}

/* Each test gets its case as initial state and a fresh root next to it. */
typedef struct CaseState {
        const BadCase *bc;
        char *root;
} CaseState;

static int case_setup(void **state) {
        CaseState *cs = calloc(1, sizeof(CaseState));
        void *root = NULL;

        if (!cs || test_root_setup(&root) < 0) {
                free(cs);
                return -1;
        }
        cs->bc = *state;
        cs->root = root;
        *state = cs;
        return 0;
}

static int case_teardown(void **state) {
        CaseState *cs = *state;
        void *root = cs->root;
        int r = test_root_teardown(&root);

        free(cs);
        return r;
}

static const char *state_root(void **state) {
        return ((CaseState *) *state)->root;
}

static void test_bad_config(void **state) {
        const CaseState *cs = *state;

        run_case(cs->root, cs->bc);
}

/* A file that cannot be tokenized at all is still reported with its line, and the other files
 * of the job are still checked: every error at once. */
static void test_all_errors_reported(void **state) {
        const char *root = state_root(state);
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;

        write_base(root);
        test_write(root, JOB, "[Job]\nHosts=host1 host9\n[Nested]\nReload=maybe\nTypo=1\n");
        test_write(root, "/etc/mhtest/jobs.d/bad.conf.d/10-x.conf", "[Guest g]\nImage=/g.img\nVCPUs=0\n");
        assert_int_equal(config_load(root, &c), 0);
        assert_int_equal(config_load_job(c, "bad", &j, &d), 0);
        assert_int_equal(d.n_errors, 4);
}

/* The overlong line: the limit is far above anything sensible, and the line is named. */
static void test_overlong_line(void **state) {
        const char *root = state_root(state);
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_free_ char *contents = NULL, *msg = NULL, *prefix = NULL, *path = test_path(root, JOB);
        size_t n = 128 * 1024;

        contents = malloc(n + 64);
        assert_non_null(contents);
        strcpy(contents, "[Job]\n\nDescription=");
        memset(contents + strlen(contents), 'x', n);
        strcpy(contents + strlen("[Job]\n\nDescription=") + n, "\n");
        write_base(root);
        test_write(root, JOB, contents);
        assert_int_equal(config_load(root, &c), 0);
        assert_int_equal(config_load_job(c, "bad", &j, &d), 0);
        assert_int_equal(d.n_errors, 1);
        assert_int_equal(config_error_format(&d.errors[0], &msg), 0);
        asprintf_safe(&prefix, "%s:3: ", path);
        assert_non_null(prefix);
        assert_true(startswith(msg, prefix));
        assert_non_null(strstr(msg, "line too long"));
}

int main(void) {
        struct CMUnitTest tests[ELEMENTSOF(cases) + 2];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                tests[i] = (struct CMUnitTest){ cases[i].name, test_bad_config, case_setup, case_teardown,
                                                (void *) &cases[i] };
        tests[ELEMENTSOF(cases)] = (struct CMUnitTest){ "all errors reported", test_all_errors_reported,
                                                        case_setup, case_teardown, NULL };
        tests[ELEMENTSOF(cases) + 1] =
                (struct CMUnitTest){ "overlong line", test_overlong_line, case_setup, case_teardown, NULL };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
