//! The trace as one self-contained HTML page: the SVG picture inline (hover text from its
//! `<title>` elements), a short key to reading it; no script, stylesheet link or font to fetch.

use super::model::SessionTrace;

/// The page for `trace`, whose picture is `svg` (from [`super::svg::render`]).
pub fn render(trace: &SessionTrace, svg: &str) -> String {
    let title = format!("spanflow trace · {} · session {}", trace.spec, trace.key);
    let title = html_escape::encode_text(&title);
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ margin: 16px; font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; }}
.picture {{ overflow-x: auto; }}
.picture svg {{ display: block; }}
p {{ font-size: 13px; max-width: 70em; }}
</style>
</head>
<body>
<div class="picture">
{svg}</div>
<p>One row per node of the spec, in plan order; time runs right, in seconds since the session's
first event. States are spans labelled with their values (booleans: a tall band is true, a low
one false), numeric timelines are their exact lines, events are ticks; hatched stretches are
undefined. Dashed red rules are the outputs' evaluation points, with the rows' values in the
output rows at the bottom. Hover over any mark for its exact values and times (epoch ms).</p>
</body>
</html>
"##
    )
}
