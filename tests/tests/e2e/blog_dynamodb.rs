//! The blog on DynamoDB, against moto server through the real aws-sdk-dynamodb client: the
//! seed's table and items exactly as the seed's Terraform and boto3 code make them, `blog
//! migrate` (in place and `--to` a new table), and the blog listing, showing, editing and
//! deleting those items over HTTP.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput,
    ScalarAttributeType,
};
use blog::accounts::dynamodb::DynamoAccounts;
use blog::accounts::{Account, AccountStore};
use blog::auth::{Auth, Passwords, Sessions};
use blog::domain::{Post, PostId, Timestamp};
use blog::store::dynamodb::{DynamoStore, migrate};
use blog::store::paging::{self, PageRequest};
use blog::store::{PostStore, Scope, StoreError};
use blog::web::{AppState, Csrf, Site};
use bluegreen_tests::bins::bin;
use bluegreen_tests::blog_http::{Reply, all_titles, form, get, http, sign_in};
use bluegreen_tests::moto::MotoServer;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key")
}

fn lsi(name: &str, range: &str) -> LocalSecondaryIndex {
    LocalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key("post_id", KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .expect("lsi")
}

/// The table exactly as the seed's Terraform declares it (`aws_dynamodb_table.blog_posts`).
async fn create_seed_table(client: &Client, table: &str) {
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .expect("throughput"),
        )
        .key_schema(key("post_id", KeyType::Hash))
        .key_schema(key("author", KeyType::Range))
        .attribute_definitions(attr("post_id"))
        .attribute_definitions(attr("title"))
        .attribute_definitions(attr("content"))
        .attribute_definitions(attr("author"))
        .attribute_definitions(attr("timestamp"))
        .local_secondary_indexes(lsi("TitleIndex", "title"))
        .local_secondary_indexes(lsi("ContentIndex", "content"))
        .local_secondary_indexes(lsi("TimestampIndex", "timestamp"))
        .send()
        .await
        .expect("create the seed's table");
}

/// The blog's own table as Terraform will define it: the seed's key plus the `ByTimestamp`
/// index (partition `feed`, sort `timestamp`, projection ALL), on demand, no LSIs.
async fn create_indexed_table(client: &Client, table: &str) {
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("post_id", KeyType::Hash))
        .key_schema(key("author", KeyType::Range))
        .attribute_definitions(attr("post_id"))
        .attribute_definitions(attr("author"))
        .attribute_definitions(attr("feed"))
        .attribute_definitions(attr("timestamp"))
        .global_secondary_indexes(gsi("ByTimestamp", "feed"))
        .global_secondary_indexes(gsi("ByAuthor", "author"))
        .send()
        .await
        .expect("create the indexed table");
}

/// A global secondary index as Terraform defines the blog's: partition `hash`, sort
/// `timestamp`, projecting everything.
fn gsi(name: &str, hash: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key("timestamp", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("gsi")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

/// `create_post` from the seed: `table.put_item(Item={post_id, title, author, content,
/// timestamp})` with `str(uuid.uuid4())` and `datetime.utcnow().isoformat()`.
async fn seed_create(
    client: &Client,
    table: &str,
    title: &str,
    author: &str,
    content: &str,
    timestamp: &str,
) -> String {
    let post_id = uuid_v4();
    client
        .put_item()
        .table_name(table)
        .item("post_id", s(&post_id))
        .item("title", s(title))
        .item("author", s(author))
        .item("content", s(content))
        .item("timestamp", s(timestamp))
        .send()
        .await
        .expect("seed put_item");
    post_id
}

/// `update_post` from the seed with a changed author: UpdateItem on a key that does not exist,
/// which creates a second item with no timestamp.
async fn seed_edit_with_new_author(
    client: &Client,
    table: &str,
    post_id: &str,
    author: &str,
    title: &str,
) {
    client
        .update_item()
        .table_name(table)
        .key("post_id", s(post_id))
        .key("author", s(author))
        .update_expression("SET title = :title, content = :content")
        .expression_attribute_values(":title", s(title))
        .expression_attribute_values(":content", s("edited by the seed"))
        .send()
        .await
        .expect("seed update_item");
}

fn uuid_v4() -> String {
    PostId::generate().as_str().to_string()
}

async fn raw_item(
    client: &Client,
    table: &str,
    post_id: &str,
    author: &str,
) -> Option<HashMap<String, AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key("post_id", s(post_id))
        .key("author", s(author))
        .consistent_read(true)
        .send()
        .await
        .expect("get_item")
        .item()
        .cloned()
}

const SHARED_SECRET: &str = "a secret shared by both colors";
const AUTHORS: &str = "BlogAuthors";

/// The accounts table as `blog migrate` makes it (twice: the second run changes nothing),
/// with root (an admin) and Ann; their password is `password of NAME`.
async fn authors(client: &Client) -> Arc<dyn AccountStore> {
    let mut steps = Vec::new();
    let created = blog::accounts::migrate::ensure_table(client, AUTHORS, &mut |l: &str| {
        steps.push(l.to_string())
    })
    .await
    .expect("create the accounts table");
    assert!(created, "{steps:?}");
    let again = blog::accounts::migrate::ensure_table(client, AUTHORS, &mut |_: &str| {})
        .await
        .expect("again");
    assert!(!again, "idempotent");
    let accounts = DynamoAccounts::new(client.clone(), AUTHORS);
    let passwords = Passwords::with_cost(8, 1).expect("params");
    for (name, admin) in [("root", true), ("Ann", false)] {
        let hash = passwords
            .hash(format!("password of {name}"))
            .await
            .expect("hash");
        accounts
            .add(&Account {
                name: name.into(),
                password_hash: hash,
                admin,
                session_epoch: 0,
            })
            .await
            .expect("add");
    }
    let taken = accounts
        .add(&Account {
            name: "Ann".into(),
            password_hash: "x".into(),
            admin: true,
            session_epoch: 0,
        })
        .await;
    assert!(matches!(taken, Err(StoreError::Rejected(_))), "{taken:?}");
    accounts.end_sessions("Ann").await.expect("bump");
    let listed = accounts.list().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|a| (a.name.as_str(), a.admin, a.session_epoch))
            .collect::<Vec<_>>(),
        [("Ann", false, 1), ("root", true, 0)]
    );
    assert!(matches!(
        accounts.end_sessions("nobody").await,
        Err(StoreError::NotFound)
    ));
    Arc::new(accounts)
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| panic!("no string {name} in {item:?}"))
}

/// Serves `store` on a loopback port inside `rt`; returns the address.
fn serve(
    rt: &Runtime,
    store: Arc<dyn PostStore>,
    accounts: Arc<dyn AccountStore>,
    color: &str,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let site = Site::new("Seed Blog", color, "v2").expect("site");
    let sessions = Sessions::new(None, Some(SHARED_SECRET), blog::auth::session::DEFAULT_TTL)
        .expect("sessions");
    let passwords = Passwords::with_cost(8, 1).expect("argon2 params");
    let state = AppState::new(
        store,
        site,
        Csrf::new(Some(SHARED_SECRET)).expect("csrf"),
        Auth::new(accounts, sessions, passwords),
    );
    let listener = rt
        .block_on(blog::server::bind("127.0.0.1".parse().expect("ip"), 0))
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(blog::server::serve(
        listener,
        blog::web::app(state),
        async move {
            let _ = stopped.await;
        },
        std::time::Duration::from_secs(5),
    ));
    (addr, stop)
}

fn post_form(addr: &str, cookie: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
    http(addr, "POST", path, Some(cookie), Some(&form(fields)))
}

#[test]
fn seed_items_list_show_edit_and_delete_after_migrate() {
    let moto = MotoServer::start().expect("moto");
    let rt = runtime();
    let client = Client::new(&rt.block_on(moto.sdk_config()));
    let table = "BlogPosts";
    rt.block_on(create_seed_table(&client, table));

    let oldest = rt.block_on(seed_create(
        &client,
        table,
        "Hello from Flask",
        "Vishal",
        "First!",
        "2026-11-20T08:00:00",
    ));
    let middle = rt.block_on(seed_create(
        &client,
        table,
        "Second",
        "Ann",
        "Two <b>words</b>",
        "2026-11-21T09:30:15.250000",
    ));
    let newest = rt.block_on(seed_create(
        &client,
        table,
        "Third",
        "Bob",
        "Three",
        "2026-11-22T10:00:00.000001",
    ));
    rt.block_on(seed_edit_with_new_author(
        &client,
        table,
        &middle,
        "Mallory",
        "Second, edited",
    ));

    // Before the migration the blog refuses the table and says what to run.
    let refused = rt
        .block_on(DynamoStore::open(client.clone(), table))
        .err()
        .expect("no index yet");
    assert!(
        refused
            .to_string()
            .contains("blog migrate --store dynamodb:BlogPosts"),
        "{refused}"
    );

    let mut log = Vec::new();
    let report = rt
        .block_on(migrate::migrate(&client, table, &mut |line: &str| {
            log.push(line.to_string())
        }))
        .expect("migrate");
    assert!(
        report.index_created && report.author_index_created,
        "{log:?}"
    );
    assert_eq!(report.backfilled, 4, "{log:?}");
    let again = rt
        .block_on(migrate::migrate(&client, table, &mut |_: &str| {}))
        .expect("migrate again");
    assert_eq!(
        (
            again.index_created,
            again.author_index_created,
            again.backfilled
        ),
        (false, false, 0),
        "idempotent"
    );

    // Legacy items only gained the index attributes; the seed's fields are untouched.
    let item = rt
        .block_on(raw_item(&client, table, &middle, "Ann"))
        .expect("item");
    assert_eq!(text(&item, "feed"), "posts");
    assert_eq!(text(&item, "timestamp"), "2026-11-21T09:30:15.250000");
    assert_eq!(text(&item, "title"), "Second");
    let dup = rt
        .block_on(raw_item(&client, table, &middle, "Mallory"))
        .expect("duplicate");
    assert!(
        Timestamp::parse(&text(&dup, "timestamp")).is_some(),
        "the duplicate got a seed-format timestamp"
    );

    let store = rt
        .block_on(DynamoStore::open(client.clone(), table))
        .expect("open after migrate");
    let limits = store.limits();
    assert!(
        limits.content_indexed && limits.title_indexed,
        "the seed's LSIs are detected"
    );
    let accounts = rt.block_on(authors(&client));
    let (addr, _stop) = serve(&rt, Arc::new(store), accounts, "green");

    // Newest first (the duplicate's timestamp is the migration's, so it leads).
    assert_eq!(
        all_titles(&addr),
        ["Second, edited", "Third", "Second", "Hello from Flask"]
    );

    let view = get(&addr, &format!("/posts/{oldest}"));
    assert_eq!(view.status, 200);
    assert!(
        view.body.contains("Hello from Flask")
            && view.body.contains("Vishal")
            && view.body.contains("20 November 2026")
    );
    let dup_view = get(&addr, &format!("/posts/{middle}"));
    assert!(
        dup_view.body.contains("Second, edited")
            && !dup_view.body.contains("Other copies of this post"),
        "readers get no cleanup controls"
    );
    assert_eq!(get(&addr, &format!("/posts/{}", uuid_v4())).status, 404);
    // The author page of a seed author, through the ByAuthor index migrate added.
    let bob = get(&addr, "/authors/Bob");
    assert_eq!(bob.status, 200, "{}", bob.body);
    assert!(
        bob.body.contains("Posts by Bob") && bob.body.contains("Third"),
        "{}",
        bob.body
    );
    assert!(!bob.body.contains("Hello from Flask"), "{}", bob.body);
    assert_eq!(get(&addr, "/authors/Nobody").status, 404);

    // Edit a seed item: title and content change, author and timestamp stay.
    // The seed's posts have authors without accounts: only an admin may edit them.
    let (cookie, token) = sign_in(
        &addr,
        "root",
        "password of root",
        &format!("/posts/{newest}/edit"),
    );
    let dup_view = http(
        &addr,
        "GET",
        &format!("/posts/{middle}"),
        Some(&cookie),
        None,
    );
    assert!(
        dup_view.body.contains("Other copies of this post"),
        "an admin cleans up"
    );
    let saved = post_form(
        &addr,
        &cookie,
        &format!("/posts/{newest}/edit"),
        &[
            ("title", "Third, revised"),
            ("author", "Bob"),
            ("content", "Three and a half"),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.body);
    let item = rt
        .block_on(raw_item(&client, table, &newest, "Bob"))
        .expect("item");
    assert_eq!(text(&item, "title"), "Third, revised");
    assert_eq!(text(&item, "content"), "Three and a half");
    assert_eq!(text(&item, "timestamp"), "2026-11-22T10:00:00.000001");

    // Changing the author is refused and creates nothing.
    let refused = post_form(
        &addr,
        &cookie,
        &format!("/posts/{newest}/edit"),
        &[
            ("title", "x"),
            ("author", "Eve"),
            ("content", "y"),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(refused.status, 422);
    assert!(
        rt.block_on(raw_item(&client, table, &newest, "Eve"))
            .is_none()
    );

    // The seed table indexes content: empty or over-long text gets a clear message.
    let empty = post_form(
        &addr,
        &cookie,
        "/posts/new",
        &[
            ("title", "t"),
            ("author", "a"),
            ("content", " "),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(empty.status, 422);
    assert!(
        empty
            .body
            .contains("indexes the post text, so it cannot be empty"),
        "{}",
        empty.body
    );
    let long = "x".repeat(1500);
    let too_long = post_form(
        &addr,
        &cookie,
        "/posts/new",
        &[
            ("title", "t"),
            ("author", "a"),
            ("content", &long),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(too_long.status, 422);
    assert!(too_long.body.contains("blog migrate --to NEW_TABLE"));

    // Delete the duplicate copy by (post_id, author), as the cleanup link does.
    let anonymous = get(&addr, &format!("/posts/{middle}/delete?author=Mallory"));
    assert_eq!(anonymous.status, 303, "readers are sent to sign in");
    let confirm = http(
        &addr,
        "GET",
        &format!("/posts/{middle}/delete?author=Mallory"),
        Some(&cookie),
        None,
    );
    assert_eq!(confirm.status, 200);
    let gone = post_form(
        &addr,
        &cookie,
        &format!("/posts/{middle}/delete"),
        &[("author", "Mallory"), ("csrf_token", &token)],
    );
    assert_eq!(gone.status, 303);
    assert!(
        rt.block_on(raw_item(&client, table, &middle, "Mallory"))
            .is_none()
    );
    assert!(
        rt.block_on(raw_item(&client, table, &middle, "Ann"))
            .is_some()
    );

    // A post written here is an item the seed's app reads: the seed's attributes, all strings.
    let (cookie, token) = sign_in(&addr, "Ann", "password of Ann", "/posts/new");
    let created = post_form(
        &addr,
        &cookie,
        "/posts/new",
        &[
            ("title", "From Rust"),
            ("author", "Ann"),
            ("content", "Hi"),
            ("csrf_token", &token),
        ],
    );
    assert_eq!(created.status, 303);
    let id = created
        .header("location")
        .expect("location")
        .trim_start_matches("/posts/")
        .to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(id.as_bytes()[14], b'4', "a UUID v4, like str(uuid.uuid4())");
    let item = rt
        .block_on(raw_item(&client, table, &id, "Ann"))
        .expect("item");
    let mut names: Vec<_> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "author",
            "content",
            "feed",
            "format",
            "post_id",
            "timestamp",
            "title"
        ]
    );
    assert_eq!(text(&item, "format"), "markdown", "the blog's own marker");
    let ts = text(&item, "timestamp");
    assert!(
        Timestamp::parse(&ts).is_some() && !ts.ends_with('Z') && !ts.contains('+'),
        "{ts}"
    );

    // The seed keeps writing while this blog serves: its new item is readable by URL at
    // once, and listed after the next `blog migrate`.
    let late = rt.block_on(seed_create(
        &client,
        table,
        "Written by blue",
        "Vishal",
        "late",
        "2026-11-28T06:00:00.5",
    ));
    assert_eq!(get(&addr, &format!("/posts/{late}")).status, 200);
    assert!(!all_titles(&addr).contains(&"Written by blue".to_string()));
    let report = rt
        .block_on(migrate::migrate(&client, table, &mut |_: &str| {}))
        .expect("migrate");
    assert_eq!(report.backfilled, 1);
    assert!(all_titles(&addr).contains(&"Written by blue".to_string()));
}

#[test]
fn the_index_pages_with_a_cursor() {
    let moto = MotoServer::start().expect("moto");
    let rt = runtime();
    let client = Client::new(&rt.block_on(moto.sdk_config()));
    rt.block_on(create_indexed_table(&client, "Posts"));
    let store = rt
        .block_on(DynamoStore::open(client.clone(), "Posts"))
        .expect("open");
    assert!(!store.limits().content_indexed);
    let big = "long text ".repeat(9_000);
    for n in 0..45 {
        let post = Post {
            id: PostId::generate(),
            author: format!("Author {}", n % 3),
            title: format!("Post {n:02}"),
            // Some posts near the 100 KB limit, so a page crosses DynamoDB's 1 MB query page.
            content: if n % 2 == 0 {
                big.clone()
            } else {
                format!("short {n}")
            },
            timestamp: Some(Timestamp::parse(&format!("2026-03-01T12:00:{n:02}")).expect("ts")),
            format: blog::domain::Format::Markdown,
            revision: 0,
        };
        rt.block_on(store.create(&post)).expect("create");
    }
    let titles = |page: &paging::Page| {
        page.posts
            .iter()
            .map(|p| p.title.clone())
            .collect::<Vec<_>>()
    };
    let first = rt
        .block_on(paging::page(&store, Scope::All, &PageRequest::First, 20))
        .expect("page 1");
    assert_eq!(titles(&first).first().map(String::as_str), Some("Post 44"));
    assert_eq!(first.posts.len(), 20);
    let second = rt
        .block_on(paging::page(
            &store,
            Scope::All,
            &PageRequest::Older(first.older.clone().expect("older")),
            20,
        ))
        .expect("page 2");
    assert_eq!(titles(&second).first().map(String::as_str), Some("Post 24"));
    let third = rt
        .block_on(paging::page(
            &store,
            Scope::All,
            &PageRequest::Older(second.older.clone().expect("older")),
            20,
        ))
        .expect("page 3");
    assert_eq!(
        titles(&third),
        ["Post 04", "Post 03", "Post 02", "Post 01", "Post 00"]
    );
    assert!(third.older.is_none());
    let back = rt
        .block_on(paging::page(
            &store,
            Scope::All,
            &PageRequest::Newer(third.newer.clone().expect("newer")),
            20,
        ))
        .expect("back");
    assert_eq!(titles(&back), titles(&second));

    // One author's posts through ByAuthor, paged the same way: Author 1 wrote 1, 4, … 43.
    let mine = rt
        .block_on(paging::page(
            &store,
            Scope::Author("Author 1"),
            &PageRequest::First,
            10,
        ))
        .expect("author page 1");
    assert_eq!(titles(&mine).first().map(String::as_str), Some("Post 43"));
    assert_eq!(mine.posts.len(), 10);
    assert!(mine.posts.iter().all(|p| p.author == "Author 1"));
    let rest = rt
        .block_on(paging::page(
            &store,
            Scope::Author("Author 1"),
            &PageRequest::Older(mine.older.clone().expect("older")),
            10,
        ))
        .expect("author page 2");
    assert_eq!(
        titles(&rest),
        ["Post 13", "Post 10", "Post 07", "Post 04", "Post 01"]
    );
    assert!(rest.older.is_none());

    // Writes on a post deleted meanwhile are refused, never resurrecting it.
    let gone = first.posts[0].clone();
    let key = blog::domain::PostKey {
        id: gone.id.clone(),
        author: gone.author.clone(),
    };
    rt.block_on(store.delete(&key)).expect("delete");
    let edit = blog::domain::Edit::parse("t", "c", store.limits()).expect("valid");
    assert!(matches!(
        rt.block_on(store.update(&key, &edit)),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        rt.block_on(store.delete(&key)),
        Err(StoreError::NotFound)
    ));
    assert!(
        rt.block_on(raw_item(&client, "Posts", gone.id.as_str(), &gone.author))
            .is_none()
    );
}

#[test]
fn migrate_to_a_new_table_with_the_binary() {
    let moto = MotoServer::start().expect("moto");
    let rt = runtime();
    let client = Client::new(&rt.block_on(moto.sdk_config()));
    rt.block_on(create_seed_table(&client, "BlogPosts"));
    let id = rt.block_on(seed_create(
        &client,
        "BlogPosts",
        "Old post",
        "Vishal",
        "text",
        "2026-11-20T08:00:00",
    ));
    rt.block_on(seed_edit_with_new_author(
        &client,
        "BlogPosts",
        &id,
        "Mallory",
        "Old post, edited",
    ));

    let blog = |args: &[&str]| {
        let out = Command::new(bin("blog"))
            .args(args)
            .envs(moto.env())
            .output()
            .expect("run blog");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.success(), stdout, stderr)
    };
    let (ok, stdout, stderr) = blog(&[
        "migrate",
        "--store",
        "dynamodb:BlogPosts",
        "--to",
        "BlogPostsV2",
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("BlogPosts -> BlogPostsV2: 2 copied, 0 already there, table created"),
        "{stdout}"
    );
    let (ok, stdout, _) = blog(&[
        "migrate",
        "--store",
        "dynamodb:BlogPosts",
        "--to",
        "BlogPostsV2",
    ]);
    assert!(
        ok && stdout.contains("0 copied, 2 already there"),
        "{stdout}"
    );
    let (ok, _, stderr) = blog(&["migrate", "--store", "dynamodb:NoSuchTable"]);
    assert!(
        !ok && stderr.contains("DynamoDB table NoSuchTable does not exist"),
        "{stderr}"
    );

    // The copy has no title/content indexes, so the 1,024-byte limit is gone.
    let store = rt
        .block_on(DynamoStore::open(client.clone(), "BlogPostsV2"))
        .expect("open copy");
    assert!(!store.limits().content_indexed && !store.limits().title_indexed);
    let versions = rt
        .block_on(store.versions(&PostId::parse(&id).expect("id")))
        .expect("read");
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[0].author, "Mallory",
        "the copy without a timestamp counts as newest"
    );

    // The binary serves the copy, reached the way ECS reaches it, and with --backfill-every
    // files what the seed's app writes meanwhile into the listing without another migrate.
    let mut child = Command::new(bin("blog"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--store",
            "dynamodb:BlogPostsV2",
        ])
        .args(["--backfill-every", "1"])
        .envs(moto.env())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let mut first = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("first line");
    let addr = first
        .trim()
        .trim_start_matches("listening on http://")
        .to_string();
    let health = get(&addr, "/health");
    let late = rt.block_on(seed_create(
        &client,
        "BlogPostsV2",
        "Late seed post",
        "Vishal",
        "x",
        "2026-11-28T07:00:00",
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut listed = false;
    while !listed && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        listed = all_titles(&addr).contains(&"Late seed post".to_string());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(health.body.contains("\"kind\":\"dynamodb\""));
    assert!(
        listed,
        "post {late} written without `feed` was not listed within 15 s"
    );
}

/// Issue 32: a post the seed's app wrote (no `format` attribute) shows as the plain text it
/// was on the post page, the index, the author page and the feed; an edit through the blog
/// keeps it plain (no marker) unless Markdown is ticked; the seed's app reads either item.
#[test]
fn seed_posts_stay_plain_text_on_every_page() {
    let moto = MotoServer::start().expect("moto");
    let rt = runtime();
    let client = Client::new(&rt.block_on(moto.sdk_config()));
    let table = "Posts";
    rt.block_on(create_indexed_table(&client, table));
    let written = "Use <b>x</b> for bold & <script>alert(1)</script>\n# not a heading\n\
                1. not a list\n*not emphasis*\n\nA second paragraph";
    let id = rt.block_on(seed_create(
        &client,
        table,
        "About <b>",
        "root",
        written,
        "2026-11-28T05:32:51.617374",
    ));
    // The backfill files it into the listing, as `blog migrate` does for the seed's items.
    rt.block_on(migrate::backfill(&client, table, &mut |_: &str| {}))
        .expect("backfill");
    let store = rt
        .block_on(DynamoStore::open(client.clone(), table))
        .expect("open");
    let accounts = rt.block_on(authors(&client));
    let (addr, _stop) = serve(&rt, Arc::new(store), accounts, "green");

    let page = get(&addr, &format!("/posts/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(
            "<p class=\"plain-text\">Use &lt;b&gt;x&lt;/b&gt; for bold &amp; \
             &lt;script&gt;alert(1)&lt;/script&gt;<br>\n# not a heading<br>\n1. not a list<br>\n\
             *not emphasis*<br>\n<br>\nA second paragraph</p>"
        ),
        "{}",
        page.body
    );
    let start = page
        .body
        .find("<div class=\"post-body\">")
        .expect("a post body");
    let body = &page.body[start..start + page.body[start..].find("</div>").expect("end")];
    for markup in ["<b>x", "<h1>", "<ol>", "<em>", "<script"] {
        assert!(!body.contains(markup), "{markup}: {body}");
    }
    let excerpt = "<p class=\"excerpt plain-text\">Use &#60;b&#62;x&#60;/b&#62; for bold &#38; \
                   &#60;script&#62;alert(1)&#60;/script&#62;\n# not a heading\n";
    for listing in ["/", "/authors/root"] {
        let r = get(&addr, listing);
        assert!(r.body.contains(excerpt), "{listing}: {}", r.body);
    }
    // The feed's content is the text's HTML (escaped once more), its summary the text.
    let feed = get(&addr, "/feed.atom");
    let content = &feed.body[feed.body.find("<content").expect("content")..];
    assert!(
        content.contains("Use &#38;lt;b&#38;gt;x&#38;lt;/b&#38;gt;")
            && content.contains("&#60;br&#62;")
            && !content.contains("&#60;b&#62;x"),
        "{}",
        feed.body
    );
    assert!(
        feed.body
            .contains("<summary type=\"text\">Use &#60;b&#62;x&#60;/b&#62; for bold"),
        "{}",
        feed.body
    );

    // An edit without the box: the text changes, the item still has no marker.
    let (cookie, token) = sign_in(
        &addr,
        "root",
        "password of root",
        &format!("/posts/{id}/edit"),
    );
    let edit = |content: &str, markdown: bool| {
        let mut fields = vec![
            ("title", "About <b>, edited"),
            ("author", "root"),
            ("content", content),
            ("plain", "1"),
            ("csrf_token", token.as_str()),
        ];
        if markdown {
            fields.push(("markdown", "on"));
        }
        post_form(&addr, &cookie, &format!("/posts/{id}/edit"), &fields)
    };
    assert_eq!(edit("<i>still</i> plain", false).status, 303);
    let item = rt
        .block_on(raw_item(&client, table, &id, "root"))
        .expect("item");
    assert!(!item.contains_key("format"), "{item:?}");
    assert_eq!(text(&item, "content"), "<i>still</i> plain");
    assert!(
        get(&addr, &format!("/posts/{id}"))
            .body
            .contains("&lt;i&gt;still&lt;/i&gt; plain")
    );
    // Ticked: Markdown from now on.
    assert_eq!(edit("*now* Markdown", true).status, 303);
    let item = rt
        .block_on(raw_item(&client, table, &id, "root"))
        .expect("item");
    assert_eq!(text(&item, "format"), "markdown");
    assert!(
        get(&addr, &format!("/posts/{id}"))
            .body
            .contains("<em>now</em> Markdown")
    );
    // The seed's app edits the blog's item as it always did (title and content only): the
    // marker stays, and its Scan reads every attribute it knows as strings.
    rt.block_on(
        client
            .update_item()
            .table_name(table)
            .key("post_id", s(&id))
            .key("author", s("root"))
            .update_expression("SET title = :title, content = :content")
            .expression_attribute_values(":title", s("By the seed"))
            .expression_attribute_values(":content", s("**seed**"))
            .send(),
    )
    .expect("seed update_item");
    let item = rt
        .block_on(raw_item(&client, table, &id, "root"))
        .expect("item");
    for name in ["post_id", "author", "title", "content", "timestamp"] {
        text(&item, name);
    }
    assert!(
        get(&addr, &format!("/posts/{id}"))
            .body
            .contains("<strong>seed</strong>")
    );
}

/// Issue 27, item 15: an edit is a conditional write on the revision it started from. The
/// second of two edits from one revision is a conflict and writes nothing; a seed item (no
/// `revision`) counts as revision 0; a deleted item is still "not found".
#[test]
fn concurrent_edits_are_conflicts_on_dynamodb() {
    use blog::domain::{Edit, Format, PostKey};
    let moto = MotoServer::start().expect("moto");
    let rt = runtime();
    let client = Client::new(&rt.block_on(moto.sdk_config()));
    let table = "Posts";
    rt.block_on(create_indexed_table(&client, table));
    let id = rt.block_on(seed_create(
        &client,
        table,
        "Seed",
        "Vishal",
        "from Flask",
        "2026-11-28T05:32:51",
    ));
    let store = rt
        .block_on(DynamoStore::open(client.clone(), table))
        .expect("open");
    let key = PostKey {
        id: PostId::parse(&id).expect("id"),
        author: "Vishal".into(),
    };
    let edit = |title: &str, revision: u64| {
        Edit::parse_as(title, "text", Format::Plain, store.limits())
            .expect("valid")
            .from_revision(Some(revision))
    };
    rt.block_on(store.update(&key, &edit("first", 0)))
        .expect("the seed's item is at revision 0");
    let stale = rt.block_on(store.update(&key, &edit("second", 0)));
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let item = rt
        .block_on(raw_item(&client, table, &id, "Vishal"))
        .expect("item");
    assert_eq!(text(&item, "title"), "first", "the conflict wrote nothing");
    assert_eq!(item.get("revision"), Some(&AttributeValue::N("1".into())));
    rt.block_on(store.update(&key, &edit("third", 1)))
        .expect("from the current revision");
    let versions = rt.block_on(store.versions(&key.id)).expect("read");
    assert_eq!(
        (versions[0].title.as_str(), versions[0].revision),
        ("third", 2)
    );
    let gone = PostKey {
        id: PostId::generate(),
        author: "Nobody".into(),
    };
    let missing = rt.block_on(store.update(&gone, &edit("x", 0)));
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}
