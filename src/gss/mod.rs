//! GSSAPI initiator (RFC 2743/2744) through the system's MIT Kerberos, loaded at run time (see
//! [`ffi`]): credentials from a ticket cache, a password or a keytab, and security contexts
//! that turn into `Negotiate` tokens (RFC 4559). The calls block (they may reach the KDC), so
//! callers run them off the async threads.
//!
//! Every type here owns its GSSAPI handle and releases it on drop.

mod ffi;

use std::ffi::CString;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use ffi::{BufferDesc, OidDesc, OmUint32};
pub use ffi::{LIBRARY_ENV, LIBRARY_NAME};

/// A GSSAPI call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GssError {
    /// The library could not be loaded.
    #[error("Kerberos needs {LIBRARY_NAME} (MIT Kerberos; Debian: libgssapi-krb5-2): {0}")]
    Missing(&'static str),
    /// A name or value holds a NUL byte.
    #[error("the {0} holds a NUL byte")]
    Nul(&'static str),
    /// The library's answer, in its words (the KDC's reason when it has one).
    #[error("{call}: {message}")]
    Failed {
        /// Which step failed.
        call: &'static str,
        /// `gss_display_status` of the major and minor codes.
        message: String,
        /// The credentials have expired (getting new ones may help).
        expired: bool,
    },
}

/// Whether the library is there; the error says why not.
pub fn available() -> Result<(), GssError> {
    ffi::library().map(|_| ()).map_err(GssError::Missing)
}

fn lib() -> Result<&'static ffi::Library, GssError> {
    ffi::library().map_err(GssError::Missing)
}

/// An OID from its DER contents; GSSAPI only reads it.
fn oid(bytes: &'static [u8]) -> OidDesc {
    OidDesc {
        length: bytes.len() as OmUint32,
        elements: bytes.as_ptr().cast_mut().cast(),
    }
}

/// The mechanism inside `Negotiate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    /// SPNEGO (RFC 4178) wrapping Kerberos: what `Negotiate` servers expect.
    Spnego,
    /// A bare Kerberos token (accepted by most servers too).
    Kerberos,
}

impl Mech {
    fn oid(self) -> OidDesc {
        oid(match self {
            Mech::Spnego => ffi::MECH_SPNEGO,
            Mech::Kerberos => ffi::MECH_KRB5,
        })
    }
}

/// How a name is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// `service@host`, canonicalised as krb5.conf says (`dns_canonicalize_hostname`).
    HostBased,
    /// A Kerberos principal as written: `HTTP/host`, `alice@REALM`.
    Principal,
}

/// An imported name.
struct GssName(ffi::Name);

impl GssName {
    fn import(text: &str, kind: NameKind) -> Result<Self, GssError> {
        let lib = lib()?;
        let mut buffer = BufferDesc::borrowing(text.as_bytes());
        let mut kind_oid = oid(match kind {
            NameKind::HostBased => ffi::NT_HOSTBASED_SERVICE,
            NameKind::Principal => ffi::NT_KRB5_PRINCIPAL,
        });
        let (mut minor, mut name) = (0, ptr::null_mut());
        // SAFETY: the buffer borrows `text` and the OID a static, both outliving the call,
        // which copies what it keeps; `name` receives a handle this value owns.
        let major = unsafe { (lib.import_name)(&mut minor, &mut buffer, &mut kind_oid, &mut name) };
        check(lib, "importing the name", major, minor)?;
        Ok(GssName(name))
    }
}

impl Drop for GssName {
    fn drop(&mut self) {
        if let Ok(lib) = lib() {
            let mut minor = 0;
            // SAFETY: the handle came from gss_import_name and is released once.
            unsafe { (lib.release_name)(&mut minor, &mut self.0) };
        }
    }
}

/// Initiator credentials (tickets in memory, or a ticket cache or keytab to take them from).
pub struct Credentials {
    handle: ffi::Cred,
}

// SAFETY: MIT's credential handles lock internally and may be shared by threads; signet never
// changes one after acquiring it.
unsafe impl Send for Credentials {}
// SAFETY: as above.
unsafe impl Sync for Credentials {}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    /// A TGT for `principal` got with `password` (an AS exchange with the KDC), kept in memory.
    pub fn with_password(
        principal: &str,
        password: &str,
        mech: Mech,
    ) -> Result<(Self, Option<Duration>), GssError> {
        let lib = lib()?;
        let name = GssName::import(principal, NameKind::Principal)?;
        let mut secret = BufferDesc::borrowing(password.as_bytes());
        let (mut mech_oid, mut minor, mut handle, mut lifetime) =
            (mech.oid(), 0, ptr::null_mut(), 0);
        let mut mechs = ffi::OidSetDesc {
            count: 1,
            elements: &mut mech_oid,
        };
        // SAFETY: the name is live, the buffer borrows `password` and the set a local OID for
        // the call; no actual-mechanism output is asked for.
        let major = unsafe {
            (lib.acquire_cred_with_password)(
                &mut minor,
                name.0,
                &mut secret,
                ffi::GSS_C_INDEFINITE,
                (&mut mechs as *mut ffi::OidSetDesc).cast(),
                ffi::GSS_C_INITIATE,
                &mut handle,
                ptr::null_mut(),
                &mut lifetime,
            )
        };
        check(lib, "getting a ticket with the password", major, minor)?;
        Ok((Credentials { handle }, seconds(lifetime)))
    }

    /// Credentials from a credential store (MIT's `ccache`, `client_keytab`), for `principal`
    /// or the store's default.
    pub fn from_store(
        principal: Option<&str>,
        store: &[(&str, &str)],
        mech: Mech,
    ) -> Result<(Self, Option<Duration>), GssError> {
        let lib = lib()?;
        let name = principal
            .map(|p| GssName::import(p, NameKind::Principal))
            .transpose()?;
        let texts = store
            .iter()
            .map(|(k, v)| {
                Ok((
                    CString::new(*k).map_err(|_| GssError::Nul("store key"))?,
                    CString::new(*v).map_err(|_| GssError::Nul("ccache or keytab path"))?,
                ))
            })
            .collect::<Result<Vec<_>, GssError>>()?;
        let mut elements: Vec<ffi::KeyValue> = texts
            .iter()
            .map(|(k, v)| ffi::KeyValue {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let set = ffi::KeyValueSet {
            count: elements.len() as OmUint32,
            elements: elements.as_mut_ptr(),
        };
        let (mut mech_oid, mut minor, mut handle, mut lifetime) =
            (mech.oid(), 0, ptr::null_mut(), 0);
        let mut mechs = ffi::OidSetDesc {
            count: 1,
            elements: &mut mech_oid,
        };
        // SAFETY: the name (or none), the mechanism set, the store and its strings live
        // across the call.
        let major = unsafe {
            (lib.acquire_cred_from)(
                &mut minor,
                name.as_ref().map_or(ptr::null_mut(), |n| n.0),
                ffi::GSS_C_INDEFINITE,
                (&mut mechs as *mut ffi::OidSetDesc).cast(),
                ffi::GSS_C_INITIATE,
                &set,
                &mut handle,
                ptr::null_mut(),
                &mut lifetime,
            )
        };
        check(lib, "getting credentials", major, minor)?;
        Ok((Credentials { handle }, seconds(lifetime)))
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        if let Ok(lib) = lib() {
            let mut minor = 0;
            // SAFETY: the handle came from an acquire call and is released once.
            unsafe { (lib.release_cred)(&mut minor, &mut self.handle) };
        }
    }
}

fn seconds(lifetime: OmUint32) -> Option<Duration> {
    (lifetime != ffi::GSS_C_INDEFINITE).then(|| Duration::from_secs(lifetime.into()))
}

/// What a context step produced.
#[derive(Debug)]
pub struct Step {
    /// The token to send (empty when there is none).
    pub token: Vec<u8>,
    /// The context is established (for mutual authentication: the server proved itself).
    pub complete: bool,
}

/// A security context with one server, under construction or established.
pub struct Context {
    handle: ffi::Ctx,
    target: GssName,
    /// `None`: the default credentials (the ticket cache).
    credentials: Option<Arc<Credentials>>,
    mech: Mech,
    flags: OmUint32,
    /// RFC 5929 `tls-server-end-point` data, the same on every step.
    bindings: Option<Vec<u8>>,
}

// SAFETY: a context handle may move between threads; every use takes `&mut self`, so no two
// threads touch it at once.
unsafe impl Send for Context {}
// SAFETY: no method takes `&self`.
unsafe impl Sync for Context {}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("mech", &self.mech).finish()
    }
}

/// What a new [`Context`] is for.
pub struct ContextSpec<'a> {
    /// The server's name (`HTTP@host` or `HTTP/host`).
    pub target: &'a str,
    /// How `target` is read.
    pub kind: NameKind,
    /// The mechanism.
    pub mech: Mech,
    /// Forward the TGT to the server.
    pub delegate: bool,
    /// Channel bindings' application data.
    pub bindings: Option<Vec<u8>>,
}

impl Context {
    /// A context with `spec.target` under `credentials` (`None`: the default ticket cache).
    pub fn new(
        credentials: Option<Arc<Credentials>>,
        spec: ContextSpec<'_>,
    ) -> Result<Self, GssError> {
        let mut flags = ffi::GSS_C_MUTUAL_FLAG;
        if spec.delegate {
            flags |= ffi::GSS_C_DELEG_FLAG;
        }
        Ok(Context {
            handle: ptr::null_mut(),
            target: GssName::import(spec.target, spec.kind)?,
            credentials,
            mech: spec.mech,
            flags,
            bindings: spec.bindings,
        })
    }

    /// One `gss_init_sec_context` step: the first without `input`, later ones with the
    /// server's token.
    pub fn step(&mut self, input: Option<&[u8]>) -> Result<Step, GssError> {
        let lib = lib()?;
        let mut mech = self.mech.oid();
        let mut input = input.map(BufferDesc::borrowing);
        let mut bindings = self.bindings.as_deref().map(|data| ffi::ChannelBindings {
            initiator_addrtype: 0,
            initiator_address: BufferDesc::empty(),
            acceptor_addrtype: 0,
            acceptor_address: BufferDesc::empty(),
            application_data: BufferDesc::borrowing(data),
        });
        let mut output = BufferDesc::empty();
        let mut minor = 0;
        let cred = self
            .credentials
            .as_ref()
            .map_or(ptr::null_mut(), |c| c.handle);
        // SAFETY: every pointer is to a local or to data owned by `self` that outlives the
        // call; the library fills `handle` (owned by `self`) and `output` (released below).
        let major = unsafe {
            (lib.init_sec_context)(
                &mut minor,
                cred,
                &mut self.handle,
                self.target.0,
                &mut mech,
                self.flags,
                0,
                bindings
                    .as_mut()
                    .map_or(ptr::null_mut(), |b| b as *mut ffi::ChannelBindings),
                input
                    .as_mut()
                    .map_or(ptr::null_mut(), |b| b as *mut BufferDesc),
                ptr::null_mut(),
                &mut output,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let token = if output.value.is_null() {
            Vec::new()
        } else {
            // SAFETY: the library set `output` to `length` readable bytes.
            let bytes =
                unsafe { std::slice::from_raw_parts(output.value.cast::<u8>(), output.length) }
                    .to_vec();
            let mut released = 0;
            // SAFETY: `output` was allocated by the library and is released once.
            unsafe { (lib.release_buffer)(&mut released, &mut output) };
            bytes
        };
        check(lib, "making the Kerberos token", major, minor)?;
        Ok(Step {
            token,
            complete: major & ffi::GSS_S_CONTINUE_NEEDED == 0,
        })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.handle.is_null() {
            return;
        }
        if let Ok(lib) = lib() {
            let mut minor = 0;
            // SAFETY: the handle came from gss_init_sec_context and is deleted once; no
            // output token is wanted.
            unsafe { (lib.delete_sec_context)(&mut minor, &mut self.handle, ptr::null_mut()) };
        }
    }
}

/// `Ok` unless `major` is an error; the error carries the library's words for both codes.
fn check(
    lib: &ffi::Library,
    call: &'static str,
    major: OmUint32,
    minor: OmUint32,
) -> Result<(), GssError> {
    if major & ffi::GSS_ERROR_MASK == 0 {
        return Ok(());
    }
    let mut parts = status_text(lib, major, ffi::GSS_C_GSS_CODE, None);
    if minor != 0 {
        // Minor codes are the mechanism's (Kerberos'), whatever wrapped them.
        let reason = status_text(lib, minor, ffi::GSS_C_MECH_CODE, Some(Mech::Kerberos));
        // "Unspecified GSS failure. Minor code may provide more information" says nothing
        // that the minor code's text does not.
        if major & ffi::GSS_ERROR_MASK == ffi::GSS_S_FAILURE && !reason.is_empty() {
            parts.clear();
        }
        // The mechanism's reason ("Clock skew too great") first: GSSAPI's own words
        // ("No credentials were supplied, …") only say which call gave up.
        parts.splice(0..0, reason);
    }
    // The mechanism glue renumbers minor codes, so Kerberos' "Ticket expired"
    // (KRB5KRB_AP_ERR_TKT_EXPIRED) is known by its text.
    let expired = major & ffi::GSS_ERROR_MASK == ffi::GSS_S_CREDENTIALS_EXPIRED
        || parts.iter().any(|p| p == "Ticket expired");
    Err(GssError::Failed {
        call,
        message: parts.join("; "),
        expired,
    })
}

fn status_text(
    lib: &ffi::Library,
    code: OmUint32,
    kind: std::ffi::c_int,
    mech: Option<Mech>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut context = 0;
    let mut mech_oid = mech.map(Mech::oid);
    // display_status hands out one line per call; a few are plenty.
    for _ in 0..4 {
        let (mut minor, mut text) = (0, BufferDesc::empty());
        let mech_ptr = mech_oid
            .as_mut()
            .map_or(ptr::null_mut(), |o| o as *mut OidDesc);
        // SAFETY: locals only; `text` is released below.
        let major = unsafe {
            (lib.display_status)(&mut minor, code, kind, mech_ptr, &mut context, &mut text)
        };
        if major & ffi::GSS_ERROR_MASK != 0 {
            break;
        }
        if !text.value.is_null() {
            // SAFETY: the library set `text` to `length` readable bytes.
            let bytes = unsafe { std::slice::from_raw_parts(text.value.cast::<u8>(), text.length) };
            // MIT counts the closing NUL in the length.
            let line = String::from_utf8_lossy(bytes)
                .trim_end_matches('\0')
                .trim()
                .to_owned();
            if !line.is_empty() {
                lines.push(line);
            }
            let mut released = 0;
            // SAFETY: allocated by the library, released once.
            unsafe { (lib.release_buffer)(&mut released, &mut text) };
        }
        if context == 0 {
            break;
        }
    }
    lines
}
