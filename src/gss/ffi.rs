//! The few GSSAPI (RFC 2744) types and functions signet calls, declared by hand and looked up
//! in MIT Kerberos' `libgssapi_krb5.so.2` at run time: the build needs no Kerberos headers, no
//! clang and no library, and one binary serves machines with and without Kerberos.
//!
//! The layouts are those of `<gssapi/gssapi.h>` (and `gssapi_ext.h` for the credential store),
//! stable since MIT krb5 1.0 / 1.11.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

pub type OmUint32 = u32;
pub type Name = *mut c_void;
pub type Cred = *mut c_void;
pub type Ctx = *mut c_void;

/// `gss_OID_desc`.
#[repr(C)]
pub struct OidDesc {
    pub length: OmUint32,
    pub elements: *mut c_void,
}

/// `gss_buffer_desc`.
#[repr(C)]
pub struct BufferDesc {
    pub length: usize,
    pub value: *mut c_void,
}

impl BufferDesc {
    pub fn empty() -> Self {
        BufferDesc {
            length: 0,
            value: std::ptr::null_mut(),
        }
    }

    /// A buffer that borrows `bytes`; GSSAPI only reads input buffers.
    pub fn borrowing(bytes: &[u8]) -> Self {
        BufferDesc {
            length: bytes.len(),
            value: bytes.as_ptr().cast_mut().cast(),
        }
    }
}

/// `gss_OID_set_desc`.
#[repr(C)]
pub struct OidSetDesc {
    pub count: usize,
    pub elements: *mut OidDesc,
}

/// `struct gss_channel_bindings_struct`.
#[repr(C)]
pub struct ChannelBindings {
    pub initiator_addrtype: OmUint32,
    pub initiator_address: BufferDesc,
    pub acceptor_addrtype: OmUint32,
    pub acceptor_address: BufferDesc,
    pub application_data: BufferDesc,
}

/// `gss_key_value_element_desc`.
#[repr(C)]
pub struct KeyValue {
    pub key: *const c_char,
    pub value: *const c_char,
}

/// `gss_key_value_set_desc`.
#[repr(C)]
pub struct KeyValueSet {
    pub count: OmUint32,
    pub elements: *mut KeyValue,
}

pub const GSS_C_INDEFINITE: OmUint32 = 0xffff_ffff;
pub const GSS_C_INITIATE: c_int = 1;
pub const GSS_C_GSS_CODE: c_int = 1;
pub const GSS_C_MECH_CODE: c_int = 2;
pub const GSS_C_DELEG_FLAG: OmUint32 = 1;
pub const GSS_C_MUTUAL_FLAG: OmUint32 = 2;
pub const GSS_S_CONTINUE_NEEDED: OmUint32 = 1;
/// Routine and calling errors; the low 16 bits are informatory.
pub const GSS_ERROR_MASK: OmUint32 = 0xffff_0000;
pub const GSS_S_CREDENTIALS_EXPIRED: OmUint32 = 11 << 16;
pub const GSS_S_FAILURE: OmUint32 = 13 << 16;

/// 1.2.840.113554.1.2.1.4, `GSS_C_NT_HOSTBASED_SERVICE` (`service@host`).
pub const NT_HOSTBASED_SERVICE: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04";
/// 1.2.840.113554.1.2.2.1, `GSS_KRB5_NT_PRINCIPAL_NAME` (`name/instance@REALM`).
pub const NT_KRB5_PRINCIPAL: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01";
/// 1.3.6.1.5.5.2, SPNEGO.
pub const MECH_SPNEGO: &[u8] = b"\x2b\x06\x01\x05\x05\x02";
/// 1.2.840.113554.1.2.2, Kerberos 5.
pub const MECH_KRB5: &[u8] = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";

type ImportName =
    unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc, *mut OidDesc, *mut Name) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Name) -> OmUint32;
type AcquireCredWithPassword = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    *mut BufferDesc,
    OmUint32,
    *mut c_void,
    c_int,
    *mut Cred,
    *mut *mut c_void,
    *mut OmUint32,
) -> OmUint32;
type AcquireCredFrom = unsafe extern "C" fn(
    *mut OmUint32,
    Name,
    OmUint32,
    *mut c_void,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut *mut c_void,
    *mut OmUint32,
) -> OmUint32;
type ReleaseCred = unsafe extern "C" fn(*mut OmUint32, *mut Cred) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32,
    Cred,
    *mut Ctx,
    Name,
    *mut OidDesc,
    OmUint32,
    OmUint32,
    *mut ChannelBindings,
    *mut BufferDesc,
    *mut *mut OidDesc,
    *mut BufferDesc,
    *mut OmUint32,
    *mut OmUint32,
) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut Ctx, *mut BufferDesc) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut BufferDesc) -> OmUint32;
type DisplayStatus = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    c_int,
    *mut OidDesc,
    *mut OmUint32,
    *mut BufferDesc,
) -> OmUint32;

/// The library's entry points.
pub struct Library {
    pub import_name: ImportName,
    pub release_name: ReleaseName,
    pub acquire_cred_with_password: AcquireCredWithPassword,
    pub acquire_cred_from: AcquireCredFrom,
    pub release_cred: ReleaseCred,
    pub init_sec_context: InitSecContext,
    pub delete_sec_context: DeleteSecContext,
    pub release_buffer: ReleaseBuffer,
    pub display_status: DisplayStatus,
}

/// The shared object looked for (MIT Kerberos' GSSAPI, as Debian's `libgssapi-krb5-2` and
/// Fedora's `krb5-libs` ship it).
pub const LIBRARY_NAME: &str = "libgssapi_krb5.so.2";

static LOADED: OnceLock<Result<Library, String>> = OnceLock::new();

/// The library, loaded on first use and kept for the life of the process; the error says
/// what the loader said.
pub fn library() -> Result<&'static Library, &'static str> {
    LOADED.get_or_init(load).as_ref().map_err(String::as_str)
}

/// Names another GSSAPI library (a path, or a name the loader searches for).
pub const LIBRARY_ENV: &str = "SIGNET_GSSAPI_LIBRARY";

fn load() -> Result<Library, String> {
    let name = std::env::var(LIBRARY_ENV).unwrap_or_else(|_| LIBRARY_NAME.to_owned());
    let name = CString::new(name).map_err(|_| format!("{LIBRARY_ENV} holds a NUL byte"))?;
    // SAFETY: `name` is a NUL-terminated string; dlopen has no other precondition. The handle
    // is never closed, so the symbols taken from it stay valid for the life of the process.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(dl_error());
    }
    // SAFETY: each symbol is cast to the signature `<gssapi/gssapi.h>` (or `gssapi_ext.h`)
    // gives it; `symbol` checks that it exists.
    unsafe {
        Ok(Library {
            import_name: std::mem::transmute::<*mut c_void, ImportName>(symbol(
                handle,
                c"gss_import_name",
            )?),
            release_name: std::mem::transmute::<*mut c_void, ReleaseName>(symbol(
                handle,
                c"gss_release_name",
            )?),
            acquire_cred_with_password: std::mem::transmute::<*mut c_void, AcquireCredWithPassword>(
                symbol(handle, c"gss_acquire_cred_with_password")?,
            ),
            acquire_cred_from: std::mem::transmute::<*mut c_void, AcquireCredFrom>(symbol(
                handle,
                c"gss_acquire_cred_from",
            )?),
            release_cred: std::mem::transmute::<*mut c_void, ReleaseCred>(symbol(
                handle,
                c"gss_release_cred",
            )?),
            init_sec_context: std::mem::transmute::<*mut c_void, InitSecContext>(symbol(
                handle,
                c"gss_init_sec_context",
            )?),
            delete_sec_context: std::mem::transmute::<*mut c_void, DeleteSecContext>(symbol(
                handle,
                c"gss_delete_sec_context",
            )?),
            release_buffer: std::mem::transmute::<*mut c_void, ReleaseBuffer>(symbol(
                handle,
                c"gss_release_buffer",
            )?),
            display_status: std::mem::transmute::<*mut c_void, DisplayStatus>(symbol(
                handle,
                c"gss_display_status",
            )?),
        })
    }
}

/// # Safety
/// `handle` is a live handle from `dlopen`.
unsafe fn symbol(handle: *mut c_void, name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: the caller passes a live handle; `name` is NUL-terminated.
    let found = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if found.is_null() {
        Err(format!(
            "{LIBRARY_NAME} has no {} ({})",
            name.to_string_lossy(),
            dl_error()
        ))
    } else {
        Ok(found)
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl* call on
    // this thread; it is copied at once.
    let text = unsafe { libc::dlerror() };
    if text.is_null() {
        "unknown loader error".to_owned()
    } else {
        // SAFETY: non-null, NUL-terminated, see above.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}
