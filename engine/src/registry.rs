use crate::error::Error;
use crate::runtime::RuntimeDescriptor;

/// The set of backends a build has, looked up by id, alias or file extension.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Vec<RuntimeDescriptor>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a backend; a later registration with the same id replaces the earlier one.
    pub fn register(&mut self, descriptor: RuntimeDescriptor) {
        self.entries.retain(|d| d.id != descriptor.id);
        self.entries.push(descriptor);
    }

    /// All registered backends, in registration order.
    pub fn descriptors(&self) -> &[RuntimeDescriptor] {
        &self.entries
    }

    /// Canonical ids of all registered languages.
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|d| d.id.to_string()).collect()
    }

    /// The backend for a language id or alias (case-insensitive).
    pub fn get(&self, name: &str) -> Result<&RuntimeDescriptor, Error> {
        self.entries
            .iter()
            .find(|d| d.answers_to(name.trim()))
            .ok_or_else(|| Error::UnknownLanguage {
                name: name.to_string(),
                available: self.ids(),
            })
    }

    /// The backend for a file name or path, by its extension (`hello.lua`).
    pub fn for_path(&self, path: &str) -> Result<&RuntimeDescriptor, Error> {
        let ext = path
            .rsplit_once('.')
            .filter(|(stem, ext)| !stem.is_empty() && !ext.contains(['/', '\\']))
            .map(|(_, ext)| ext)
            .unwrap_or("");
        self.entries
            .iter()
            .find(|d| d.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
            .ok_or_else(|| Error::UnknownLanguage {
                name: if ext.is_empty() {
                    format!("{path} (no file extension)")
                } else {
                    format!(".{ext}")
                },
                available: self.ids(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Capabilities, LoadContext, Runtime};

    fn no_load(_: &LoadContext) -> Result<Box<dyn Runtime>, Error> {
        Err(Error::Internal("test".into()))
    }

    fn desc(
        id: &'static str,
        aliases: &'static [&'static str],
        ext: &'static [&'static str],
    ) -> RuntimeDescriptor {
        RuntimeDescriptor {
            id,
            name: id,
            aliases,
            extensions: ext,
            backend: "test",
            version: "1",
            capabilities: Capabilities::default(),
            load: no_load,
            prepare: None,
        }
    }

    #[test]
    fn lookup_by_alias_extension_and_unknown() {
        let mut r = Registry::new();
        r.register(desc("javascript", &["js", "node"], &["js", "mjs"]));
        r.register(desc("lua", &[], &["lua"]));
        assert_eq!(r.get("JS").unwrap().id, "javascript");
        assert_eq!(r.get("node").unwrap().id, "javascript");
        assert_eq!(r.for_path("dir.v2/hello.LUA").unwrap().id, "lua");
        assert_eq!(r.for_path("a.mjs").unwrap().id, "javascript");
        let err = r.get("cobol").unwrap_err().to_string();
        assert_eq!(err, "unknown language `cobol` (available: javascript, lua)");
        assert!(
            r.for_path("Makefile")
                .unwrap_err()
                .to_string()
                .contains("no file extension")
        );
        assert!(r.for_path("dir.d/file").is_err());
        assert!(r.for_path(".bashrc").is_err());
    }
}
