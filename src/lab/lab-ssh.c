/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SSH is how everything but "lab exec" into a container reaches a lab host, as it reaches real
 * hosts: the lab's key and ssh_config for the controller side, the same key in every host (host
 * to host, as libvirt's qemu+ssh migration needs), and a hosts.d entry per host for mhtest-coord. */
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"
#include "lab-internal.h"
#include "log.h"
#include "string-util.h"
#include "strv.h"

static int keygen(const char *path, const char *comment) {
        return lab_run_quiet(STRV_MAKE("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path));
}

/* A container host makes its own host key at boot, and the controller trusts it blindly (the
 * hosts live in namespaces nobody else reaches). L1 hosts share one host key the lab made, so
 * the controller and the hosts pin it (known_hosts). */
static int write_ssh(const Lab *l) {
        _cleanup_free_ char *key = lab_path(l, "id_ed25519", NULL), *cfg = lab_path(l, "ssh_config", NULL), *s = NULL;
        _cleanup_free_ char *bin = lab_path(l, "bin", "ssh"), *wrapper = NULL, *comment = strjoin("mhtest-lab-", l->name);
        _cleanup_free_ char *net = lab_ip4_format(l->subnet), *known = NULL, *known_s = NULL, *host_pub = NULL;
        bool pinned = l->backend == LAB_BACKEND_VM;
        int r;

        if (!key || !cfg || !bin || !comment || !net || !(known = lab_path(l, "known_hosts", NULL)))
                return -ENOMEM;
        *strrchr(net, '.') = 0;
        r = keygen(key, comment);
        if (r < 0)
                return r;
        if (pinned) {
                _cleanup_free_ char *host_key = lab_path(l, "ssh_host_ed25519_key", NULL), *host_comment = NULL,
                                    *pub_path = NULL;
                if (!host_key || !(host_comment = strjoin(comment, "-host")) || !(pub_path = strjoin(host_key, ".pub")))
                        return -ENOMEM;
                r = keygen(host_key, host_comment);
                if (r >= 0)
                        r = read_one_line_file(pub_path, &host_pub);
                if (r < 0)
                        return r;
        }
        /* Absolute paths throughout: virsh runs ssh with a scrubbed environment, and ssh_config
         * expands no variables. */
        if (asprintf_safe(&s,
                          "# mhtest lab %s (generated; removed by \"mhtest lab down %s\")\n"
                          "Host %s-* %s.*\n"
                          "  User root\n"
                          "  IdentityFile %s\n"
                          "  IdentitiesOnly yes\n"
                          "  StrictHostKeyChecking %s\n"
                          "  UserKnownHostsFile %s\n"
                          "  LogLevel ERROR\n",
                          l->name, l->name, l->name, net, key, pinned ? "yes" : "no", pinned ? known : "/dev/null") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                char *n = NULL;

                if (asprintf_safe(&n, "%s\nHost %s\n  HostName %s\n%s%s%s", s, h->name, h->address,
                                  pinned ? "  HostKeyAlias " : "", pinned ? h->name : "", pinned ? "\n" : "") < 0)
                        return -ENOMEM;
                free(s);
                s = n;
                if (pinned) {
                        if (asprintf_safe(&n, "%s%s,%s %s\n", strempty(known_s), h->name, h->address, host_pub) < 0)
                                return -ENOMEM;
                        free(known_s);
                        known_s = n;
                }
        }
        r = write_file_atomic(cfg, s, 0644);
        if (r >= 0 && pinned)
                r = write_file_atomic(known, strempty(known_s), 0644);
        if (r < 0)
                return r;
        if (asprintf_safe(&wrapper, "#!/bin/sh\n# ssh with the lab's config (libvirt's qemu+ssh finds it first in PATH)\n"
                                    "exec /usr/bin/ssh -F %s \"$@\"\n", cfg) < 0)
                return -ENOMEM;
        r = mkdir_parents(bin, 0755);
        if (r >= 0)
                r = write_file_atomic(bin, wrapper, 0755);
        return r;
}

int lab_write_ssh(const Lab *l) {
        int r;

        r = write_ssh(l);
        if (r < 0)
                return log_error_errno(r, "Failed to write the SSH keys and config of lab %s: %m", l->name);
        return 0;
}

/* In a container host's root: the lab key logs in as root everywhere and is the key libvirtd
 * uses host to host; a fresh host key; sshd on the lab address only. */
int lab_ssh_prepare_root(const Lab *l, const LabHost *h, const char *root) {
        _cleanup_free_ char *key = NULL, *pub = NULL, *keyfile = NULL, *s = NULL;
        int r;

        keyfile = lab_path(l, "id_ed25519", NULL);
        if (!keyfile || read_full_file(keyfile, &key, NULL) < 0)
                return -EIO;
        free(keyfile);
        keyfile = lab_path(l, "id_ed25519.pub", NULL);
        if (!keyfile || read_full_file(keyfile, &pub, NULL) < 0)
                return -EIO;
        r = lab_root_write(root, "/root/.ssh/id_ed25519", key, 0600);
        if (r >= 0)
                r = lab_root_write(root, "/root/.ssh/authorized_keys", pub, 0600);
        if (r < 0)
                return r;
        if (asprintf_safe(&s,
                          "# mhtest lab %s: reach the other hosts by name, no host key prompts\n"
                          "Host %s-*\n"
                          "  User root\n"
                          "  IdentityFile /root/.ssh/id_ed25519\n"
                          "  StrictHostKeyChecking no\n"
                          "  UserKnownHostsFile /dev/null\n"
                          "  LogLevel ERROR\n",
                          l->name, l->name) < 0)
                return -ENOMEM;
        r = lab_root_write(root, "/root/.ssh/config", s, 0600);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *root_ssh = strjoin(root, "/root/.ssh"), *root_dir = strjoin(root, "/root");
                if (!root_ssh || !root_dir || chmod(root_ssh, 0700) < 0 || chmod(root_dir, 0700) < 0)
                        return -EIO;
        }
        /* fresh host key: the machine's keys must not be shared by every host */
        {
                _cleanup_free_ char *pattern = strjoin(root, "/etc/ssh/ssh_host_*"), *hk = NULL;
                glob_t g = {};
                if (!pattern)
                        return -ENOMEM;
                if (glob(pattern, 0, NULL, &g) == 0)
                        for (size_t i = 0; i < g.gl_pathc; i++)
                                (void) unlink(g.gl_pathv[i]);
                globfree(&g);
                hk = strjoin(root, "/etc/ssh/ssh_host_ed25519_key");
                if (!hk)
                        return -ENOMEM;
                r = mkdir_parents(hk, 0755);
                if (r < 0)
                        return r;
                r = keygen(hk, h->name);
                if (r < 0)
                        return r;
        }
        free(s);
        s = NULL;
        if (asprintf_safe(&s,
                          "# mhtest lab: listen on the lab address only\n"
                          "ListenAddress %s\n"
                          "HostKey /etc/ssh/ssh_host_ed25519_key\n"
                          "PermitRootLogin prohibit-password\n"
                          "PasswordAuthentication no\n"
                          "UseDNS no\n",
                          h->address) < 0)
                return -ENOMEM;
        r = lab_root_write(root, "/etc/ssh/sshd_config.d/50-mhtest-lab.conf", s, 0644);
        if (r < 0)
                return r;
        return lab_root_symlink(root, "/etc/systemd/system/multi-user.target.wants/ssh.service",
                                "/lib/systemd/system/ssh.service");
}

static int write_hosts_d(const Lab *l) {
        _cleanup_free_ char *key = lab_path(l, "id_ed25519", NULL), *cfg = lab_path(l, "ssh_config", NULL),
                            *own = lab_path(l, "hosts.d", NULL);
        int r;

        if (!key || !cfg || !own)
                return -ENOMEM;
        r = mkdir_p(LAB_HOSTS_DIR, 0755);
        if (r >= 0)
                r = mkdir_p(own, 0755);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l->n_hosts; i++) {
                const LabHost *h = &l->hosts[i];
                _cleanup_free_ char *s = NULL, *p = NULL, *p2 = NULL;

                if (asprintf_safe(&s,
                                  "# mhtest lab %s (generated; removed by \"mhtest lab down %s\")\n"
                                  "[Host]\n"
                                  "Description=lab %s host %zu (%s)\n"
                                  "Address=%s\n"
                                  "SSHUser=root\n"
                                  "IdentityFile=%s\n"
                                  "SSHConfig=%s\n"
                                  "LibvirtURI=qemu+ssh://root@%s/system?keyfile=%s&no_verify=1\n"
                                  "MigrationAddress=%s\n",
                                  l->name, l->name, l->name, i + 1, lab_backend_to_string(l->backend), h->address,
                                  key, cfg, h->address, key, h->address) < 0)
                        return -ENOMEM;
                p = strjoin(LAB_HOSTS_DIR "/", h->name, ".conf");
                p2 = strjoin(own, "/", h->name, ".conf");
                if (!p || !p2)
                        return -ENOMEM;
                r = write_file_atomic(p, s, 0644);
                if (r >= 0)
                        r = write_file_atomic(p2, s, 0644);
                if (r < 0)
                        return r;
        }
        return 0;
}

int lab_write_hosts_d(const Lab *l) {
        int r;

        r = write_hosts_d(l);
        if (r < 0)
                return log_error_errno(r, "Failed to write the hosts.d entries of lab %s: %m", l->name);
        return 0;
}

int lab_remove_hosts_d(const Lab *l) {
        int ret = 0;

        for (size_t i = 0; i < l->n_hosts; i++) {
                _cleanup_free_ char *p = strjoin(LAB_HOSTS_DIR "/", l->hosts[i].name, ".conf");
                if (!p)
                        return -ENOMEM;
                if (unlink(p) < 0 && errno != ENOENT)
                        ret = log_warning_errno(-errno, "Failed to remove %s: %m", p);
        }
        if (l->made_hosts_dir)
                (void) rmdir(LAB_HOSTS_DIR);
        return ret;
}

int lab_ssh_argv(const char *name, const char *host, char * const *options, char * const *cmd, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *config = strjoin(LAB_RUN_DIR "/", name, "/ssh_config");

        if (!config)
                return -ENOMEM;
        argv = strv_new("ssh", "-F", config);
        if (!argv || strv_extend_strv(&argv, options) < 0 || strv_extend(&argv, host) < 0 ||
            strv_extend(&argv, "--") < 0)
                return -ENOMEM;
        /* ssh joins its arguments into one string for the remote shell: quote each word so that
         * "lab exec H -- sh -c 'a b'" keeps its word boundaries. */
        STRV_FOREACH(c, cmd)
                if (strv_consume(&argv, shell_quote(*c)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}
