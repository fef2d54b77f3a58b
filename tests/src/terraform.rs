//! Loading the stack's HCL (`terraform/`) and reading expressions out of it, for the
//! `delivery_terraform` tests. Lookups panic with the module and the name that is missing: a
//! missing block is a failed check.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use hcl::expr::{Expression, FuncCall, ObjectKey, TemplateExpr};
use hcl::{Block, Body};

pub fn terraform_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform")
}

/// Every Terraform directory of the stack: the shared modules and the environment's two states.
pub const MODULE_DIRS: &[&str] = &[
    "modules/kms",
    "modules/base",
    "modules/service",
    "envs/dev/base",
    "envs/dev/service",
];

/// One Terraform module (a directory): its `.tf` files parsed and concatenated.
pub struct Module {
    pub dir: PathBuf,
    pub source: String,
    pub blocks: Vec<Block>,
}

impl Module {
    pub fn load(rel: &str) -> Module {
        let dir = terraform_dir().join(rel);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "tf"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .tf files in {}", dir.display());
        let mut source = String::new();
        let mut blocks = Vec::new();
        for file in files {
            let text = fs::read_to_string(&file).expect("read .tf file");
            let body: Body = hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} is not valid HCL: {e}", file.display()));
            blocks.extend(body.into_blocks());
            source.push_str(&text);
            source.push('\n');
        }
        Module {
            dir,
            source,
            blocks,
        }
    }

    pub fn labelled(&self, kind: &str, labels: &[&str]) -> Vec<&Block> {
        self.blocks
            .iter()
            .filter(|b| {
                b.identifier() == kind
                    && b.labels().len() >= labels.len()
                    && b.labels()
                        .iter()
                        .zip(labels)
                        .all(|(have, want)| have.as_str() == *want)
            })
            .collect()
    }

    pub fn resources(&self, ty: &str) -> Vec<&Block> {
        self.labelled("resource", &[ty])
    }

    pub fn resource(&self, ty: &str, name: &str) -> &Block {
        let found = self.labelled("resource", &[ty, name]);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one resource \"{ty}\" \"{name}\" in {}",
            self.dir.display()
        );
        found[0]
    }

    pub fn data(&self, ty: &str, name: &str) -> &Block {
        let found = self.labelled("data", &[ty, name]);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one data \"{ty}\" \"{name}\" in {}",
            self.dir.display()
        );
        found[0]
    }

    pub fn locals(&self) -> BTreeMap<String, &Expression> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == "locals")
            .flat_map(|b| b.body().attributes())
            .map(|a| (a.key().to_string(), a.expr()))
            .collect()
    }

    pub fn local(&self, name: &str) -> &Expression {
        self.locals()
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("local.{name} is not defined in {}", self.dir.display()))
    }

    pub fn names(&self, kind: &str) -> BTreeSet<String> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == kind)
            .filter_map(|b| b.labels().first().map(|l| l.as_str().to_string()))
            .collect()
    }

    /// The source without `moved` blocks: their `from` names an address that no longer exists on
    /// purpose, so reference checks must not see it.
    pub fn source_without_moves(&self) -> String {
        let mut out = String::new();
        let mut rest = self.source.as_str();
        while let Some(start) = rest
            .find("\nmoved {")
            .map(|i| i + 1)
            .or_else(|| rest.starts_with("moved {").then_some(0))
        {
            out.push_str(&rest[..start]);
            let block = &rest[start..];
            let end = block.find("\n}\n").map_or(block.len(), |i| i + 3);
            rest = &block[end..];
        }
        out.push_str(rest);
        out
    }

    /// The `from` and `to` addresses of the module's `moved` blocks.
    pub fn moves(&self) -> BTreeMap<String, String> {
        self.blocks
            .iter()
            .filter(|b| b.identifier() == "moved")
            .map(|b| (src(attr(b, "from")), src(attr(b, "to"))))
            .collect()
    }

    pub fn variable_default(&self, name: &str) -> Option<&Expression> {
        let var = self.labelled("variable", &[name]);
        assert_eq!(var.len(), 1, "variable \"{name}\" is not declared");
        attr_opt(var[0].body(), "default")
    }

    /// The source text from a block's header to its closing brace, with comments, for checks
    /// on the reasons written next to a setting.
    pub fn block_text(&self, kind: &str, labels: &[&str]) -> &str {
        let header = format!(
            "{kind} {}",
            labels
                .iter()
                .map(|l| format!("\"{l}\""))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let start = self
            .source
            .find(&header)
            .unwrap_or_else(|| panic!("no `{header}` in {}", self.dir.display()));
        let rest = &self.source[start..];
        let end = rest.find("\n}\n").map_or(rest.len(), |i| i + 3);
        &rest[..end]
    }
}

pub fn attr_opt<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

pub fn attr<'a>(block: &'a Block, key: &str) -> &'a Expression {
    attr_opt(block.body(), key).unwrap_or_else(|| {
        panic!(
            "{} {:?} has no attribute `{key}`",
            block.identifier(),
            block.labels()
        )
    })
}

pub fn sub_blocks<'a>(block: &'a Block, ident: &str) -> Vec<&'a Block> {
    block
        .body()
        .blocks()
        .filter(|b| b.identifier() == ident)
        .collect()
}

pub fn sub_block<'a>(block: &'a Block, ident: &str) -> &'a Block {
    let found = sub_blocks(block, ident);
    assert_eq!(
        found.len(),
        1,
        "{} {:?} should have one `{ident}` block",
        block.identifier(),
        block.labels()
    );
    found[0]
}

/// HCL source form of an expression, for comparing references (`aws_iam_role.task.arn`). Lists
/// are written on one line, `[a, b]`.
pub fn src(expr: &Expression) -> String {
    match expr {
        Expression::Array(items) => {
            format!("[{}]", items.iter().map(src).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// The value of a literal string (a quoted template without interpolation).
pub fn lit(expr: &Expression) -> Option<&str> {
    match expr {
        Expression::String(s) => Some(s),
        Expression::TemplateExpr(t) => match t.as_ref() {
            TemplateExpr::QuotedString(s) if !s.contains("${") => Some(s),
            _ => None,
        },
        _ => None,
    }
}

pub fn lit_str(expr: &Expression) -> &str {
    lit(expr).unwrap_or_else(|| panic!("expected a literal string, found `{}`", src(expr)))
}

pub fn number(expr: &Expression) -> i64 {
    match expr {
        Expression::Number(n) => n.as_i64().expect("integer"),
        other => panic!("expected a number, found `{}`", src(other)),
    }
}

pub fn boolean(expr: &Expression) -> bool {
    match expr {
        Expression::Bool(b) => *b,
        other => panic!("expected true or false, found `{}`", src(other)),
    }
}

pub fn array(expr: &Expression) -> &[Expression] {
    match expr {
        Expression::Array(items) => items,
        other => panic!("expected a list, found `{}`", src(other)),
    }
}

pub fn strings(expr: &Expression) -> BTreeSet<String> {
    array(expr).iter().map(|e| lit_str(e).to_string()).collect()
}

pub fn func<'a>(expr: &'a Expression, name: &str) -> &'a FuncCall {
    match expr {
        Expression::FuncCall(call) if call.name.name.as_str() == name => call,
        other => panic!("expected a call to {name}(), found `{}`", src(other)),
    }
}

pub fn object_get<'a>(expr: &'a Expression, key: &str) -> Option<&'a Expression> {
    let Expression::Object(object) = expr else {
        panic!("expected an object, found `{}`", src(expr))
    };
    object.iter().find_map(|(k, v)| {
        let name = match k {
            ObjectKey::Identifier(id) => id.as_str().to_string(),
            ObjectKey::Expression(e) => lit(e).unwrap_or_default().to_string(),
            _ => String::new(),
        };
        (name == key).then_some(v)
    })
}

pub fn field<'a>(expr: &'a Expression, key: &str) -> &'a Expression {
    object_get(expr, key).unwrap_or_else(|| panic!("no `{key}` in `{}`", src(expr)))
}

/// The colors a `for_each = local.colors` iterates over.
pub fn colors(module: &Module) -> BTreeSet<String> {
    let expr = module.local("colors");
    let list = match expr {
        Expression::FuncCall(call) if call.name.name.as_str() == "toset" => &call.args[0],
        other => other,
    };
    strings(list)
}

pub fn assert_for_each_colors(module: &Module, block: &Block) {
    assert_eq!(
        src(attr(block, "for_each")),
        "local.colors",
        "{:?} must exist once per color",
        block.labels()
    );
    assert_eq!(
        colors(module),
        BTreeSet::from(["blue".to_string(), "green".to_string()])
    );
}

pub fn ignore_changes(block: &Block) -> BTreeSet<String> {
    let lifecycle = sub_block(block, "lifecycle");
    array(attr(lifecycle, "ignore_changes"))
        .iter()
        .map(src)
        .collect()
}

pub fn service() -> Module {
    Module::load("modules/service")
}

pub fn base() -> Module {
    Module::load("modules/base")
}

pub fn kms() -> Module {
    Module::load("modules/kms")
}

/// The statements of an `aws_iam_policy_document` data source, dynamic ones included.
pub fn statements(doc: &Block) -> Vec<&Block> {
    let mut out = sub_blocks(doc, "statement");
    for dynamic in sub_blocks(doc, "dynamic") {
        if dynamic.labels().first().map(|l| l.as_str()) == Some("statement") {
            out.push(sub_block(dynamic, "content"));
        }
    }
    out
}

/// The policy document (data source) attached inline to a role.
pub fn role_policy_document<'a>(m: &'a Module, role: &str) -> &'a Block {
    let attached: Vec<&Block> = m
        .resources("aws_iam_role_policy")
        .into_iter()
        .filter(|p| src(attr(p, "role")) == format!("aws_iam_role.{role}.id"))
        .collect();
    assert_eq!(
        attached.len(),
        1,
        "role {role} should carry one inline policy"
    );
    let policy = src(attr(attached[0], "policy"));
    let name = policy
        .strip_prefix("data.aws_iam_policy_document.")
        .and_then(|rest| rest.strip_suffix(".json"))
        .unwrap_or_else(|| panic!("role {role}'s policy is not a policy document: {policy}"));
    m.data("aws_iam_policy_document", name)
}

pub fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The source with `#` comments removed (the stack's HCL has no `#` inside strings).
pub fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Identifiers following `prefix` in the source (`var.` → `name`), outside comments.
pub fn references(source: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for code in without_comments(source).lines() {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let boundary = rest[..i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
            let after = &rest[i + prefix.len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            if boundary && !name.is_empty() {
                out.insert(name.clone());
            }
            rest = &after[name.len()..];
        }
    }
    out
}
