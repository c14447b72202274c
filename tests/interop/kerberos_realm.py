"""A throwaway MIT Kerberos realm on 127.0.0.1 for the Negotiate tests: a KDC (krb5kdc) with
its database, krb5.conf and kdc.conf in a temp directory. Nothing reads or writes
/etc/krb5.conf: every process gets KRB5_CONFIG (and KRB5_KDC_PROFILE) from `env`. Host names
stay off /etc/hosts: the services are named in the realm only, and signet gets them as `spn`."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import free_port, require

REALM = "SIGNET.TEST"


class Realm:
    def __init__(self, procs, request, ticket_lifetime="10h", kdc_clock_offset=None):
        """`kdc_clock_offset` (libfaketime's syntax, e.g. "+15m") shifts the KDC's clock only,
        for the clock-skew case; everything else keeps the machine's time. Clients then do not
        follow the KDC's clock (`kdc_timesync = 0`, as a client without MIT's time sync):
        otherwise MIT takes the KDC's time from its first error and the KDC never refuses."""
        self.dir = Path(tempfile.mkdtemp(prefix="signet-krb5-"))
        request.addfinalizer(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        # Apache (www-data) reads the config and its keytab from here.
        self.dir.chmod(0o755)
        self.port = free_port()
        self.krb5_conf = self.dir / "krb5.conf"
        self.kdc_conf = self.dir / "kdc.conf"
        self.krb5_conf.write_text(
            f"""[libdefaults]
 default_realm = {REALM}
 dns_lookup_realm = false
 dns_lookup_kdc = false
 dns_canonicalize_hostname = false
 rdns = false
 udp_preference_limit = 1
 ticket_lifetime = {ticket_lifetime}
 kdc_timesync = {0 if kdc_clock_offset else 1}
[realms]
 {REALM} = {{
  kdc = 127.0.0.1:{self.port}
 }}
[domain_realm]
 .test = {REALM}
"""
        )
        self.kdc_conf.write_text(
            f"""[kdcdefaults]
 kdc_ports = {self.port}
 kdc_tcp_ports = {self.port}
[realms]
 {REALM} = {{
  database_name = {self.dir}/principal
  key_stash_file = {self.dir}/stash
  acl_file = {self.dir}/kadm5.acl
  max_life = {ticket_lifetime}
  max_renewable_life = 0
  supported_enctypes = aes256-cts-hmac-sha1-96:normal
 }}
[logging]
 kdc = FILE:{self.dir}/kdc.log
"""
        )
        for path in [self.krb5_conf, self.kdc_conf]:
            path.chmod(0o644)
        self.env = {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            # Nobody's default cache: each test says which cache it uses.
            "KRB5CCNAME": f"FILE:{self.dir}/no-cache",
            "KRB5_KTNAME": f"FILE:{self.dir}/no-keytab",
            "KRB5RCACHETYPE": "none",
        }
        self.run(require("kdb5_util"), "-r", REALM, "-P", "master-password", "create", "-s")
        kdc = [require("krb5kdc"), "-n", "-r", REALM]
        if kdc_clock_offset:
            kdc = [require("faketime"), "-f", kdc_clock_offset, *kdc]
        procs.start(kdc, self.port, "krb5kdc", env=self.env)

    def run(self, *args, input=None, env=None):
        out = subprocess.run(
            [str(a) for a in args],
            env={**os.environ, **self.env, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, f"{args}: {out.stdout}{out.stderr}"
        return out.stdout

    def kadmin(self, query):
        return self.run(require("kadmin.local"), "-r", REALM, "-q", query)

    def user(self, name, password):
        self.kadmin(f"addprinc -pw {password} {name}")
        return f"{name}@{REALM}"

    def service(self, principal, keytab_name):
        """A principal with a random key, exported to a keytab readable by servers (www-data,
        proxy)."""
        self.kadmin(f"addprinc -randkey {principal}")
        keytab = self.dir / keytab_name
        self.kadmin(f"ktadd -k {keytab} {principal}")
        keytab.chmod(0o644)
        return keytab

    def keytab_for(self, name, password, keytab_name):
        """A user principal whose key is also in a keytab (`ktadd -norandkey` keeps the
        password valid)."""
        principal = self.user(name, password)
        keytab = self.dir / keytab_name
        self.kadmin(f"ktadd -norandkey -k {keytab} {name}")
        return principal, keytab

    def kinit(self, principal, password, ccache):
        self.run(require("kinit"), "-c", ccache, principal, input=password + "\n")
        return ccache
