//! Directive values, parsed by pure functions that mirror httpd's own
//! splitting (`ap_getword_conf`). Every error message names the directive;
//! httpd adds the file and line.

pub mod groups;
pub mod import_script;
pub mod script_alias;
pub mod values;
pub mod words;
