//! The template language: minijinja's syntax with agentpods' settings, and what a YAML
//! template may do with values ([`quoting`]). A leaf both sides use: `config` checks the
//! templates when it loads them, `render` compiles and renders them (adding the filters
//! and the YAML escaping, `crate::render::escape`).

pub(crate) mod blocks;
pub(crate) mod quoting;

use minijinja::Environment;
use minijinja::syntax::SyntaxConfig;

/// The template syntax: minijinja's, with blocks trimmed and the trailing newline kept.
pub fn syntax_config() -> SyntaxConfig {
    SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .unwrap_or_default()
}

/// An environment with the template syntax and no templates, for syntax checks. Compiling
/// a template reads only the syntax; filters, the formatter and escaping matter when a
/// template renders, and `render` sets them.
pub fn syntax_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(syntax_config());
    env
}

#[cfg(test)]
mod tests {
    /// What docs/templates.md says of the settings (new-user review 13b, N13): a line ending
    /// in a block tag runs into the next, `+%}` keeps the newline, spaces before a tag alone
    /// on its line go, the last newline stays.
    #[test]
    fn the_settings_behave_as_docs_templates_md_says() {
        let render = |source: &str| {
            let mut env = super::syntax_environment();
            env.add_template("t", source).expect("compiles");
            env.get_template("t")
                .and_then(|t| t.render(minijinja::context! { x => false }))
                .expect("renders")
        };
        let line = "bug? {% if x %}yes{% else %}no{% endif %}\nTitle\n";
        assert_eq!(render(line), "bug? noTitle\n");
        assert_eq!(
            render(&line.replace("endif %}", "endif +%}")),
            "bug? no\nTitle\n"
        );
        assert_eq!(
            render("a\n    {% if not x %}\nb\n    {% endif %}\n"),
            "a\nb\n"
        );
    }
}
