//! `spanflow trace`: the text form of the Timeline paper's Fig. 1 session (snapshot, and the
//! worked example's numbers), the HTML page loaded in headless Chromium (no console messages,
//! one band per node in the screenshot), errors, and the committed docs pictures.

use crate::specs::repo_root;
use spanflow::cli::TraceFormat;
use spanflow::generate::{write_ocf, Device, Heartbeat, OcfCodec, UserAction, HEARTBEAT_SCHEMA};
use spanflow::lookup::{Enricher, StaticRows};
use spanflow::spec_file;
use spanflow::trace::{svg, trace, TraceRequest};
use spanflow_engine::Scalar;
use spanflow_operators::{Program, TestValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CIR: &str = "dag-specs/video/connection_induced_rebuffering.yaml";
/// The events of the CIR spec's first test (the paper's Fig. 1), as an Avro container file.
const PAPER_FIXTURE: &str = "fixtures/trace/cir-paper-fig1.avro";

fn root(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

fn program(spec: &str) -> Program {
    let loaded = spec_file::load(&root(spec));
    if let Err(report) = loaded.program_or_report() {
        panic!("{spec} is invalid:\n{report}");
    }
    loaded
        .program
        .unwrap_or_else(|_| unreachable!("checked above"))
}

fn request<'a>(input: &'a Path, key: &'a str, format: TraceFormat) -> TraceRequest<'a> {
    TraceRequest {
        input,
        schemas: None,
        key,
        from: None,
        to: None,
        format,
        stop: None,
    }
}

/// The CIR spec's first test's events as heartbeats, checking they use no field the
/// heartbeat schema lacks.
fn paper_events(program: &Program) -> Vec<Heartbeat> {
    let test = &program.tests[0];
    assert!(test.name.starts_with("paper Fig. 1"), "{}", test.name);
    test.events
        .iter()
        .map(|e| {
            let known = [
                "sessionId",
                "timestamp",
                "seq",
                "playerState",
                "cdn",
                "userAction",
            ];
            assert!(e.keys().all(|k| known.contains(&k.as_str())), "{e:?}");
            let text = |k: &str| match e.get(k) {
                Some(Some(TestValue(Scalar::Str(v)))) => Some(v.to_string()),
                _ => None,
            };
            let number = |k: &str| match e.get(k) {
                Some(Some(TestValue(Scalar::F64(v)))) => *v as i64,
                other => panic!("{k}: {other:?}"),
            };
            Heartbeat {
                session_id: text("sessionId").unwrap(),
                timestamp: number("timestamp"),
                seq: number("seq"),
                player_state: text("playerState"),
                cdn: text("cdn"),
                bitrate_kbps: None,
                network: None,
                user_action: text("userAction").map(|a| {
                    assert_eq!(a, "seek");
                    UserAction::Seek
                }),
                device: Device {
                    os: "android".into(),
                    model: "paper".into(),
                },
                buffer_length_sec: None,
                tags: BTreeMap::new(),
            }
        })
        .collect()
}

/// The committed fixture is the spec's test events (regenerate it with
/// `SPANFLOW_UPDATE_DOCS=1`).
#[test]
fn the_paper_fixture_holds_the_cir_specs_fig1_events() {
    let program = program(CIR);
    let mut bytes = Vec::new();
    write_ocf(
        HEARTBEAT_SCHEMA,
        &paper_events(&program),
        OcfCodec::Null,
        1,
        &mut bytes,
    )
    .unwrap();
    let path = root(PAPER_FIXTURE);
    if std::env::var("SPANFLOW_UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == bytes,
        "{PAPER_FIXTURE} is not the CIR spec's Fig. 1 test events: regenerate it with \
         SPANFLOW_UPDATE_DOCS=1 cargo test --test integration trace::"
    );
}

/// The text trace of the paper's session: every node's spans and events as the interpreter
/// emitted them. The worked example (timeline-framework.md §3.1): connection-induced
/// buffering over [8, 10) s, [15, 18) s (the seek at 10 s excuses 10–15 s) and [26, 28) s,
/// so 7 s on all CDNs and 5 s on CDN1 (CDN2 from 22 s).
#[test]
fn the_text_trace_of_the_paper_session_is_the_worked_example() {
    let program = program(CIR);
    let input = root(PAPER_FIXTURE);
    let text = trace(&program, &request(&input, "s1", TraceFormat::Text), None).unwrap();
    let node = |id: &str| -> Vec<&str> {
        let header = format!("\n{id} (");
        let at = text
            .find(&header)
            .unwrap_or_else(|| panic!("{id} in\n{text}"));
        text[at + 1..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(str::trim)
            .collect()
    };
    assert_eq!(
        node("connection_induced_buffering"),
        [
            "[0, 8000) false",
            "[8000, 10000) true",
            "[10000, 15000) false",
            "[15000, 18000) true",
            "[18000, 26000) false",
            "[26000, 28000) true",
            "[28000, ∞) false",
        ]
    );
    assert_eq!(
        node("seeked_recently"),
        [
            "[0, 10000) false",
            "[10000, 15000) true",
            "[15000, ∞) false"
        ]
    );
    assert_eq!(
        node("cdn"),
        [
            "[0, 1000) undefined",
            "[1000, 22000) \"CDN1\"",
            "[22000, ∞) \"CDN2\""
        ]
    );
    assert_eq!(
        node("cir_secs_cdn1"),
        [
            "[0, 8000) 0",
            "[8000, 10000) 0 → 2 (+1/s)",
            "[10000, 15000) 2",
            "[15000, 18000) 2 → 5 (+1/s)",
            "[18000, ∞) 5",
        ]
    );
    assert_eq!(node("is_seek"), ["@10000 true"]);
    assert!(
        text.contains("output cir_per_session (at session_end)\n  @30000 cir_secs_cdn1=5 cir_secs_all_cdns=7\n"),
        "{text}"
    );
    insta::assert_snapshot!("cir_paper_fig1", text);
}

/// A window shows what overlaps it; rows outside it are left out.
#[test]
fn a_window_keeps_what_overlaps_it() {
    let program = program(CIR);
    let input = root(PAPER_FIXTURE);
    let mut r = request(&input, "s1", TraceFormat::Text);
    r.from = Some(9_000);
    r.to = Some(16_000);
    let text = trace(&program, &r, None).unwrap();
    assert!(text.contains(", showing [9000, 16000]"), "{text}");
    assert!(
        text.contains("  [8000, 10000) true\n  [10000, 15000) false\n  [15000, 18000) true\n"),
        "{text}"
    );
    assert!(!text.contains("[0, 8000) false"), "{text}");
    assert!(
        text.contains("output cir_per_session (at session_end)\n  (no rows in this window)"),
        "{text}"
    );
}

fn spanflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .env_remove("SPANFLOW_CONFIG")
        .env("RUST_LOG", "info")
        .current_dir(repo_root())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn an_unknown_session_key_is_named_with_keys_the_file_has() {
    let out = spanflow(&[
        "trace",
        CIR,
        "--input",
        "fixtures/generated/heartbeats-small.avro",
        "--session",
        "11cb8fd7-aeab-4d2a-979c-36863e28d09e",
        "--format",
        "text",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "no session with key `11cb8fd7-aeab-4d2a-979c-36863e28d09e` in \
             fixtures/generated/heartbeats-small.avro (it has 20 sessions, e.g. \
             `11cb8fd7-aeab-4d2a-979c-36863e28d09f`, "
        ),
        "{err}"
    );
    assert!(
        err.contains("did you mean `11cb8fd7-aeab-4d2a-979c-36863e28d09f`?): pass one of its keys to --session"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn from_after_to_is_refused() {
    let out = spanflow(&[
        "trace",
        CIR,
        "--input",
        PAPER_FIXTURE,
        "--session",
        "s1",
        "--from",
        "20000",
        "--to",
        "10000",
        "--format",
        "text",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "--from 20000 is after --to 10000: give a window with --from at or before --to"
        ),
        "{err}"
    );
    let out = spanflow(&[
        "trace",
        CIR,
        "--input",
        PAPER_FIXTURE,
        "--session",
        "s1",
        "--from",
        "40000",
        "--format",
        "text",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "no session of `s1` overlaps --from 40000 --to -: its sessions run [0, 30000] ms"
        ),
        "{err}"
    );
}

/// The CLI writes the page to `--output`, the same page the library renders.
#[test]
fn the_cli_writes_the_html_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("trace.html");
    let out = spanflow(&[
        "trace",
        CIR,
        "--input",
        PAPER_FIXTURE,
        "--session",
        "s1",
        "--output",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&page).unwrap();
    let program = program(CIR);
    let input = root(PAPER_FIXTURE);
    let rendered = trace(&program, &request(&input, "s1", TraceFormat::Html), None).unwrap();
    assert_eq!(written, rendered);
    assert_self_contained(&written);
}

/// Nothing in the page is fetched: no script, stylesheet, image or font from anywhere; the
/// only URL is the SVG namespace.
fn assert_self_contained(page: &str) {
    for needle in [
        "<script",
        "src=",
        "href=",
        "@import",
        "@font-face",
        "<link",
        "<img",
    ] {
        assert!(!page.contains(needle), "the page has `{needle}`");
    }
    let urls = page.matches("http").count();
    let namespaces = page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(urls, namespaces, "only the SVG namespace may be a URL");
}

/// Chromium, if installed: `/usr/bin/chromium` or on `PATH`; a failure instead of a skip when
/// `SPANFLOW_REQUIRE_CHROMIUM=1` (as CI sets).
fn chromium() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromium"))
            .find(|p| p.is_file())
    });
    let found =
        on_path.or_else(|| Some(PathBuf::from("/usr/bin/chromium")).filter(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var("SPANFLOW_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "SPANFLOW_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install chromium)"
        );
    }
    found
}

/// Loads `page` in headless Chromium and takes a `width`×`height` screenshot; returns the
/// PNG's path and Chromium's log.
fn screenshot(
    chromium: &Path,
    dir: &Path,
    page: &Path,
    width: u32,
    height: u32,
) -> (PathBuf, String) {
    let shot = dir.join("shot.png");
    let profile = dir.join("profile");
    let log = dir.join("chromium.log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // A bound on a hung browser only; the test's outcome never depends on timing.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{log}");
    assert!(shot.is_file(), "no screenshot:\n{log}");
    (shot, log)
}

/// RGB pixels of a PNG, row by row.
fn pixels(png_path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let px = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (w, h, px)
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// The colours down one pixel column, as runs: `(colour index or None, length)`.
fn runs(column: &[[u8; 3]], colours: &[[u8; 3]]) -> Vec<(Option<usize>, usize)> {
    let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 3);
    let mut out: Vec<(Option<usize>, usize)> = Vec::new();
    for &p in column {
        let k = colours.iter().position(|&c| close(p, c));
        match out.last_mut() {
            Some((last, n)) if *last == k => *n += 1,
            _ => out.push((k, 1)),
        }
    }
    out
}

/// The page loads in headless Chromium without a console message (no script error, no
/// resource it failed to fetch), and the screenshot shows one label band per node, in the
/// two alternating colours, and one band per output.
#[test]
fn the_html_page_renders_in_headless_chromium_with_a_band_per_node() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: chromium not installed");
        return;
    };
    let program = program(CIR);
    let input = root(PAPER_FIXTURE);
    let page = trace(&program, &request(&input, "s1", TraceFormat::Html), None).unwrap();
    assert_self_contained(&page);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.html");
    std::fs::write(&path, &page).unwrap();
    let (shot, log) = screenshot(&chromium, dir.path(), &path, 1400, 1000);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    let (w, h, px) = pixels(&shot);
    assert_eq!((w, h), (1400, 1000));
    // Body margin 16 px; the label cells start at the picture's left edge.
    let x = 16 + 5;
    let column: Vec<[u8; 3]> = (0..h).map(|y| px[y * w + x]).collect();
    let colours = [
        rgb(svg::NODE_LABEL_COLOURS[0]),
        rgb(svg::NODE_LABEL_COLOURS[1]),
        rgb(svg::OUTPUT_LABEL_COLOUR),
    ];
    let bands: Vec<(usize, usize)> = runs(&column, &colours)
        .into_iter()
        .filter_map(|(k, n)| k.map(|k| (k, n)))
        .collect();
    let node_bands: Vec<usize> = bands
        .iter()
        .filter(|(k, _)| *k < 2)
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(node_bands.len(), program.plan.nodes.len(), "{bands:?}");
    assert!(
        node_bands.iter().enumerate().all(|(i, k)| *k == i % 2),
        "node bands alternate: {bands:?}"
    );
    assert!(
        bands.iter().all(|(_, n)| *n == 40),
        "every band is one 40 px row: {bands:?}"
    );
    assert_eq!(
        bands.iter().filter(|(k, _)| *k == 2).count(),
        program.outputs.len(),
        "{bands:?}"
    );
}

/// The docs pictures: each shipped spec on one session of a fixture.
struct DocPicture {
    spec: &'static str,
    input: &'static str,
    key: &'static str,
}

const DOC_PICTURES: [DocPicture; 4] = [
    DocPicture {
        spec: CIR,
        input: PAPER_FIXTURE,
        key: "s1",
    },
    DocPicture {
        spec: "dag-specs/video/play_time_on_cdn.yaml",
        input: "fixtures/generated/heartbeats-small.avro",
        key: "87327664-ead1-4511-a291-125da6e57110",
    },
    DocPicture {
        spec: "dag-specs/video/play_time_by_cdn_tier.yaml",
        input: "fixtures/generated/heartbeats-small.avro",
        key: "1c3f91bc-e2bd-4c79-8c73-f29e04585c88",
    },
    DocPicture {
        spec: "dag-specs/iot/risky_device.yaml",
        input: "fixtures/generated/telemetry-small.avro",
        key: "dev-00000",
    },
];

/// `docs/trace-<spec>.svg` for each shipped spec is what `spanflow trace --format svg` draws
/// now (the lookup spec joins the rows of its first test, as `spanflow test` does); regenerate
/// them with `SPANFLOW_UPDATE_DOCS=1 cargo test --test integration trace::`.
#[test]
fn the_docs_pictures_are_up_to_date() {
    let update = std::env::var("SPANFLOW_UPDATE_DOCS").as_deref() == Ok("1");
    let mut stale = Vec::new();
    for doc in &DOC_PICTURES {
        let program = program(doc.spec);
        let mut lookups = (!program.input.lookups.is_empty()).then(|| {
            let rows =
                StaticRows::from_spec_rows(&program.input.lookups, &program.tests[0].lookups)
                    .unwrap();
            Enricher::new(&program, Box::new(rows))
        });
        let input = root(doc.input);
        let picture = trace(
            &program,
            &request(&input, doc.key, TraceFormat::Svg),
            lookups.as_mut(),
        )
        .unwrap();
        let name = Path::new(doc.spec).file_stem().unwrap().to_str().unwrap();
        let path = root(&format!("docs/trace-{name}.svg"));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &picture).unwrap();
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(picture.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; regenerate with SPANFLOW_UPDATE_DOCS=1 cargo test --test integration trace::"
    );
}

/// A key with several sessions (a session gap): the first is drawn, or the first the window
/// overlaps; a window between them is an error listing them.
#[test]
fn a_window_picks_one_of_the_keys_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let schema = root("fixtures/avro/heartbeat.avsc");
    let yaml = std::fs::read_to_string(root(CIR))
        .unwrap()
        .replace(
            "../../fixtures/avro/heartbeat.avsc",
            schema.to_str().unwrap(),
        )
        .replace(
            "  sequence: seq\n",
            "  sequence: seq\n  session_gap_secs: 6\n",
        );
    let spec = dir.path().join("cir_gap.yaml");
    std::fs::write(&spec, yaml).unwrap();
    let loaded = spec_file::load(&spec);
    if let Err(report) = loaded.program_or_report() {
        panic!("{report}");
    }
    let program = loaded
        .program
        .unwrap_or_else(|_| unreachable!("checked above"));
    let input = root(PAPER_FIXTURE);
    let first_line = |r: &TraceRequest<'_>| {
        let text = trace(&program, r, None).unwrap();
        text.lines().next().unwrap().to_string()
    };
    // 8 s pass between the events at 10 s and 18 s: two sessions.
    let mut r = request(&input, "s1", TraceFormat::Text);
    assert_eq!(
        first_line(&r),
        "connection_induced_rebuffering · session s1 · [0, 10000] ms (7 events)"
    );
    r.from = Some(20_000);
    assert_eq!(
        first_line(&r),
        "connection_induced_rebuffering · session s1 · [18000, 30000] ms (7 events), showing [20000, 30000]"
    );
    r.from = Some(12_000);
    r.to = Some(15_000);
    let e = trace(&program, &r, None).unwrap_err();
    assert_eq!(
        e,
        "no session of `s1` overlaps --from 12000 --to 15000: its sessions run [0, 10000] ms, \
         [18000, 30000] ms (epoch ms); give a window that overlaps one"
    );
}
