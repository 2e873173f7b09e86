//! The `wsgi_module` record that `LoadModule wsgi_module ...` finds, and
//! the registration of its hooks. Nothing imports this file: the hooks
//! live in the folder of the process they run in (`parent/`, `child/`),
//! the configuration callbacks in `config/`.

use std::os::raw::c_int;
use std::ptr;

use apache_sys as ap;

use crate::apache::module_record::ModuleList;
use crate::config::access::{
    create_dir_config, create_server_config, merge_dir_config, merge_server_config,
};
use crate::config::directives::COMMANDS;

/// The module structure. httpd writes into it (index, next pointer), so it
/// is a `static mut` exported under the name LoadModule looks for; it must
/// be defined in Rust because a cdylib only exports Rust symbols.
#[unsafe(no_mangle)]
pub static mut wsgi_module: ap::module = ap::module {
    version: ap::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ap::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    name: c"mod_wsgi.c".as_ptr(),
    dynamic_load_handle: ptr::null_mut(),
    next: ptr::null_mut(),
    magic: ap::MODULE_MAGIC_COOKIE as std::os::raw::c_ulong,
    rewrite_args: None,
    create_dir_config: Some(create_dir_config),
    merge_dir_config: Some(merge_dir_config),
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_server_config),
    cmds: &raw const COMMANDS as *const ap::command_rec,
    register_hooks: Some(register_hooks),
    flags: 0,
};

static BEFORE_TRANSLATE: ModuleList<2> = ModuleList([c"mod_alias.c".as_ptr(), ptr::null()]);
static AFTER_TRANSLATE: ModuleList<3> = ModuleList([
    c"mod_userdir.c".as_ptr(),
    c"mod_vhost_alias.c".as_ptr(),
    ptr::null(),
]);

unsafe extern "C" fn register_hooks(pool: *mut ap::apr_pool_t) {
    crate::apache::module_record::register(&raw const wsgi_module);
    let middle = ap::APR_HOOK_MIDDLE as c_int;
    // SAFETY: called by httpd while it builds the hook tables; the ordering
    // lists are 'static and NULL-terminated.
    unsafe {
        ap::ap_hook_post_config(
            Some(crate::parent::post_config::post_config),
            ptr::null(),
            ptr::null(),
            middle,
        );
        ap::ap_hook_pre_mpm(
            Some(crate::parent::post_config::pre_mpm),
            ptr::null(),
            ptr::null(),
            ap::APR_HOOK_REALLY_LAST as c_int,
        );
        ap::ap_hook_child_init(
            Some(crate::child::init::child_init),
            ptr::null(),
            ptr::null(),
            middle,
        );
        ap::ap_hook_translate_name(
            Some(crate::child::translate::translate_name),
            BEFORE_TRANSLATE.0.as_ptr(),
            AFTER_TRANSLATE.0.as_ptr(),
            middle,
        );
        ap::ap_hook_handler(
            Some(crate::child::handler::handler),
            ptr::null(),
            ptr::null(),
            middle,
        );
        ap::ap_hook_handler(
            Some(crate::child::metrics_page::handler),
            ptr::null(),
            ptr::null(),
            middle,
        );
        crate::child::auth::register(pool);
    }
}
