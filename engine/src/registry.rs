use crate::error::Error;
use crate::runtime::{RuntimeDescriptor, RuntimeInfo};

/// The set of backends a build has, looked up by language (id, alias or file extension) and,
/// optionally, backend. A language may have several backends (one per engine); one of them is
/// the language's default on this platform: the first registered, unless
/// [`Registry::set_default`] says otherwise.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Vec<RuntimeDescriptor>,
    /// `(language id, backend)` of defaults chosen with [`Registry::set_default`].
    defaults: Vec<(&'static str, &'static str)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a backend; a later registration of the same language and backend replaces the
    /// earlier one (and keeps its place).
    pub fn register(&mut self, descriptor: RuntimeDescriptor) {
        match self
            .entries
            .iter_mut()
            .find(|d| d.id == descriptor.id && d.backend == descriptor.backend)
        {
            Some(slot) => *slot = descriptor,
            None => self.entries.push(descriptor),
        }
    }

    /// Makes `backend` the default of `language` (ids as registered).
    pub fn set_default(&mut self, language: &str, backend: &str) -> Result<(), Error> {
        let d = *self.resolve(language, Some(backend))?;
        self.defaults.retain(|(l, _)| *l != d.id);
        self.defaults.push((d.id, d.backend));
        Ok(())
    }

    /// All registered backends, in registration order.
    pub fn descriptors(&self) -> &[RuntimeDescriptor] {
        &self.entries
    }

    /// Every backend as callers see it: its info with `default` set.
    pub fn infos(&self) -> Vec<RuntimeInfo> {
        self.entries
            .iter()
            .map(|d| {
                let mut info = d.info();
                info.default = self.is_default(d);
                info
            })
            .collect()
    }

    /// Canonical ids of all registered languages, each once, in registration order.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for d in &self.entries {
            if !ids.iter().any(|i| i == d.id) {
                ids.push(d.id.to_string());
            }
        }
        ids
    }

    /// The backends of a language id, default first.
    pub fn backends(&self, language: &str) -> Vec<&RuntimeDescriptor> {
        let mut all: Vec<&RuntimeDescriptor> =
            self.entries.iter().filter(|d| d.id == language).collect();
        all.sort_by_key(|d| !self.is_default(d));
        all
    }

    /// `true` if `d` is its language's default backend.
    pub fn is_default(&self, d: &RuntimeDescriptor) -> bool {
        match self.defaults.iter().find(|(l, _)| *l == d.id) {
            Some((_, b)) => *b == d.backend,
            None => self
                .entries
                .iter()
                .find(|e| e.id == d.id)
                .is_some_and(|first| first.backend == d.backend),
        }
    }

    fn pick<'a>(
        &'a self,
        first: &'a RuntimeDescriptor,
        backend: Option<&str>,
    ) -> Result<&'a RuntimeDescriptor, Error> {
        // Every run resolves its backend: no allocation unless it is an error.
        let mut of_language = self.entries.iter().filter(|d| d.id == first.id);
        match backend.map(str::trim).filter(|b| !b.is_empty()) {
            None => Ok(of_language.find(|d| self.is_default(d)).unwrap_or(first)),
            Some(b) => of_language
                .find(|d| d.backend.eq_ignore_ascii_case(b))
                .ok_or_else(|| Error::UnknownBackend {
                    language: first.id.to_string(),
                    name: b.to_string(),
                    available: self
                        .backends(first.id)
                        .iter()
                        .map(|d| d.backend.to_string())
                        .collect(),
                }),
        }
    }

    /// The default backend for a language id or alias (case-insensitive).
    pub fn get(&self, name: &str) -> Result<&RuntimeDescriptor, Error> {
        self.resolve(name, None)
    }

    /// The backend `backend` (or the default, for `None`) of a language id or alias.
    pub fn resolve(&self, name: &str, backend: Option<&str>) -> Result<&RuntimeDescriptor, Error> {
        let first = self
            .entries
            .iter()
            .find(|d| d.answers_to(name.trim()))
            .ok_or_else(|| Error::UnknownLanguage {
                name: name.to_string(),
                available: self.ids(),
            })?;
        self.pick(first, backend)
    }

    /// The default backend for a file name or path, by its extension (`hello.lua`).
    pub fn for_path(&self, path: &str) -> Result<&RuntimeDescriptor, Error> {
        self.resolve_path(path, None)
    }

    /// The backend `backend` (or the default) of the language of a file, by its extension.
    pub fn resolve_path(
        &self,
        path: &str,
        backend: Option<&str>,
    ) -> Result<&RuntimeDescriptor, Error> {
        let ext = path
            .rsplit_once('.')
            .filter(|(stem, ext)| !stem.is_empty() && !ext.contains(['/', '\\']))
            .map(|(_, ext)| ext)
            .unwrap_or("");
        let first = self
            .entries
            .iter()
            .find(|d| d.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
            .ok_or_else(|| Error::UnknownLanguage {
                name: if ext.is_empty() {
                    format!("{path} (no file extension)")
                } else {
                    format!(".{ext}")
                },
                available: self.ids(),
            })?;
        self.pick(first, backend)
    }

    /// What a run asks for: by `language` (id or alias) when given, else by `filename`'s
    /// extension; then `backend` or the default.
    pub fn find(
        &self,
        language: Option<&str>,
        filename: Option<&str>,
        backend: Option<&str>,
    ) -> Result<&RuntimeDescriptor, Error> {
        match (language, filename) {
            (Some(l), _) => self.resolve(l, backend),
            (None, Some(f)) => self.resolve_path(f, backend),
            (None, None) => Err(Error::InvalidRequest(
                "no language given and no file name to infer it from".into(),
            )),
        }
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
        backend: &'static str,
        aliases: &'static [&'static str],
        ext: &'static [&'static str],
    ) -> RuntimeDescriptor {
        RuntimeDescriptor {
            id,
            name: id,
            aliases,
            extensions: ext,
            backend,
            version: "1",
            capabilities: Capabilities::default(),
            load: no_load,
            prepare: None,
        }
    }

    #[test]
    fn lookup_by_alias_extension_and_unknown() {
        let mut r = Registry::new();
        r.register(desc("javascript", "boa", &["js", "node"], &["js", "mjs"]));
        r.register(desc("lua", "mlua", &[], &["lua"]));
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
        assert!(r.find(None, None, None).is_err());
    }

    #[test]
    fn several_backends_per_language() {
        let mut r = Registry::new();
        r.register(desc("javascript", "boa", &["js"], &["js"]));
        r.register(desc("lua", "mlua", &[], &["lua"]));
        r.register(desc("javascript", "quickjs", &["js"], &["js"]));
        assert_eq!(r.ids(), ["javascript", "lua"]);
        assert_eq!(r.get("js").unwrap().backend, "boa");
        assert_eq!(r.resolve("js", Some("QuickJS")).unwrap().backend, "quickjs");
        assert_eq!(
            r.resolve_path("a.js", Some("quickjs")).unwrap().backend,
            "quickjs"
        );
        let e = r.resolve("js", Some("v8")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "javascript has no backend `v8` (available: boa, quickjs)"
        );
        assert!(matches!(
            r.resolve("cobol", Some("boa")),
            Err(Error::UnknownLanguage { .. })
        ));

        r.set_default("js", "quickjs").unwrap();
        assert_eq!(r.get("javascript").unwrap().backend, "quickjs");
        let names: Vec<_> = r.backends("javascript").iter().map(|d| d.backend).collect();
        assert_eq!(names, ["quickjs", "boa"]);
        let defaults: Vec<_> = r
            .infos()
            .into_iter()
            .map(|i| (i.backend, i.default))
            .collect();
        assert_eq!(
            defaults,
            [
                ("boa".to_string(), false),
                ("mlua".to_string(), true),
                ("quickjs".to_string(), true)
            ]
        );
        assert!(r.set_default("js", "v8").is_err());
        // Registering the same backend again replaces it in place.
        r.register(desc("javascript", "boa", &["js", "node"], &["js"]));
        assert_eq!(r.descriptors().len(), 3);
        assert!(r.get("node").is_ok());
    }
}
