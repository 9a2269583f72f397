use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "HOST" => Some("192.0.2.7".into()),
        "QUOTED" => Some("it's \"fine\"".into()),
        "EMPTY" => Some(String::new()),
        "MULTI" => Some("first-part\nsecond-part".into()),
        _ => None,
    }
}

fn eval(text: &str) -> Result<String, Vec<ErbError>> {
    evaluate("config/deploy.yml", text, &env).map(|e| e.text)
}

fn problems(text: &str) -> Vec<(usize, ErbProblem)> {
    eval(text).expect_err("refused").into_iter().map(|e| (e.line, e.problem)).collect()
}

#[test]
fn every_supported_form_reads_the_variable() {
    for form in [
        r#"<%= ENV["HOST"] %>"#,
        r#"<%= ENV['HOST'] %>"#,
        r#"<%=ENV["HOST"]%>"#,
        r#"<%= ENV.fetch("HOST") %>"#,
        r#"<%= ENV.fetch('HOST') %>"#,
        r#"<%= ENV.fetch("HOST", "default") %>"#,
        r#"<%= ENV.fetch( 'HOST' , 'default' ) %>"#,
        r#"<%= ENV [ "HOST" ] %>"#,
    ] {
        assert_eq!(eval(&format!("host: {form}\n")).unwrap(), "host: 192.0.2.7\n", "{form}");
    }
}

#[test]
fn a_default_is_used_only_when_the_variable_is_unset() {
    assert_eq!(eval(r#"a: <%= ENV.fetch("NOPE", "fallback") %>"#).unwrap(), "a: fallback");
    assert_eq!(eval(r#"a: <%= ENV.fetch('NOPE', '') %>"#).unwrap(), "a: ");
    assert_eq!(eval(r#"a: <%= ENV.fetch("EMPTY", "fallback") %>"#).unwrap(), "a: ", "set but empty is set");
    let e = evaluate("f", r#"<%= ENV.fetch("NOPE", "d") %><%= ENV["HOST"] %>"#, &env).unwrap();
    assert_eq!(
        e.substitutions,
        vec![
            Substitution { line: 1, var: "NOPE".into(), from_default: true, value: "d".into() },
            Substitution { line: 1, var: "HOST".into(), from_default: false, value: "192.0.2.7".into() },
        ]
    );
}

#[test]
fn text_around_tags_is_kept_byte_for_byte() {
    let text = "# <%% is literal\nservers:\n  - web-<%= ENV[\"HOST\"] %>:22 # note\n  - <%= ENV['HOST'] %><%= ENV['HOST'] %>\nend %> too\n";
    assert_eq!(
        eval(text).unwrap(),
        "# <% is literal\nservers:\n  - web-192.0.2.7:22 # note\n  - 192.0.2.7192.0.2.7\nend %> too\n"
    );
    assert_eq!(eval("no tags at all\r\nx: 1").unwrap(), "no tags at all\r\nx: 1");
}

#[test]
fn nested_quotes_in_defaults_and_yaml_quotes_around_tags() {
    assert_eq!(eval(r#"a: "<%= ENV["HOST"] %>""#).unwrap(), r#"a: "192.0.2.7""#);
    assert_eq!(eval(r#"a: '<%= ENV.fetch("NOPE", "it's") %>'"#).unwrap(), "a: 'it's'");
    assert_eq!(eval(r#"a: <%= ENV.fetch('NOPE', 'say "hi"') %>"#).unwrap(), r#"a: say "hi""#);
    assert_eq!(eval(r#"a: <%= ENV.fetch("NOPE", "say \"hi\" \\ ok") %>"#).unwrap(), r#"a: say "hi" \ ok"#);
    assert_eq!(eval(r#"a: <%= ENV.fetch('NOPE', 'it\'s \d') %>"#).unwrap(), r"a: it's \d");
    assert_eq!(eval(r#"a: <%= ENV["QUOTED"] %>"#).unwrap(), r#"a: it's "fine""#);
}

#[test]
fn a_missing_variable_is_named() {
    assert_eq!(
        problems("x: 1\nhost: <%= ENV[\"DB_HOST\"] %>\n"),
        vec![(2, ErbProblem::Missing { var: "DB_HOST".into() })]
    );
    assert_eq!(problems("<%= ENV.fetch('TOKEN') %>"), vec![(1, ErbProblem::Missing { var: "TOKEN".into() })]);
    let e = &eval("x: 1\nhost: <%= ENV[\"DB_HOST\"] %>\n").unwrap_err()[0];
    assert_eq!(
        e.to_string(),
        "config/deploy.yml:2: <%= ENV[\"DB_HOST\"] %>: the environment variable DB_HOST is not set; export it, put DB_HOST=… in .env, or give a default with ENV.fetch(\"DB_HOST\", \"default\")"
    );
}

#[test]
fn unsupported_tags_name_file_and_line_and_say_what_is_supported() {
    for tag in [
        "<%= Time.now %>",
        "<% if true %>",
        "<%# a comment %>",
        "<%- ENV['HOST'] -%>",
        "<%= ENV['HOST'] -%>",
        "<%= ENV['HOST'] || 'x' %>",
        "<%= ENV.fetch('HOST') { 'x' } %>",
        "<%= ENV.fetch('HOST', 'a', 'b') %>",
        "<%= ENV[HOST] %>",
        "<%= ENV[\"HOST\" %>",
        "<%= ENV.fetch(\"NOPE\", \"#{1 + 1}\") %>",
        "<%= ENV['A=B'] %>",
        "<%= ENV[''] %>",
        "<%= \"HOST\" %>",
    ] {
        let errs = evaluate("config/deploy.staging.yml", &format!("a: 1\nb: {tag}\n"), &env).unwrap_err();
        assert_eq!(errs.len(), 1, "{tag}");
        assert_eq!((errs[0].line, &errs[0].problem), (2, &ErbProblem::Unsupported), "{tag}");
        assert_eq!(
            errs[0].to_string(),
            format!("config/deploy.staging.yml:2: {tag}: this ERB is not supported ({SUPPORTED}); write the value itself, or one of those forms")
        );
    }
}

#[test]
fn a_tag_must_close_on_its_line() {
    assert_eq!(problems("a: <%= ENV['HOST']\n  %>\n"), vec![(1, ErbProblem::Unclosed)]);
    assert_eq!(
        eval("a: 1\nb: <%= ENV['HOST']\n").unwrap_err()[0].to_string(),
        "config/deploy.yml:2: <%= ENV['HOST']: the tag does not close on this line; end it with %> on the same line (write <%% for a literal <%)"
    );
}

#[test]
fn a_value_with_a_line_break_is_refused_without_showing_it() {
    let errs = eval("a: <%= ENV['MULTI'] %>\n").unwrap_err();
    assert_eq!(errs[0].problem, ErbProblem::LineBreak { var: "MULTI".into() });
    assert!(!errs[0].to_string().contains("first-part"), "{}", errs[0]);
    assert_eq!(
        problems(r#"a: <%= ENV.fetch("NOPE", "x\ny") %>"#),
        vec![(1, ErbProblem::LineBreak { var: "NOPE".into() })]
    );
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let text = "a: <%= ENV['NOPE'] %> <%= 1 %>\nb: ok\nc: <%= ENV.fetch('ALSO') %>\n";
    assert_eq!(
        problems(text),
        vec![
            (1, ErbProblem::Missing { var: "NOPE".into() }),
            (1, ErbProblem::Unsupported),
            (3, ErbProblem::Missing { var: "ALSO".into() }),
        ]
    );
}

#[test]
fn substitutions_keep_line_numbers_and_hide_values_in_debug() {
    let text = "a: 1\nb: <%= ENV['HOST'] %>\nc: 3\n";
    let e = evaluate("f", text, &env).unwrap();
    assert_eq!(e.text.lines().count(), text.lines().count());
    assert_eq!(e.substitutions[0].line, 2);
    assert!(!format!("{:?}", e.substitutions).contains("192.0.2.7"));
}

#[test]
fn long_tags_are_shortened_in_errors() {
    let tag = format!("<%= {} %>", "x".repeat(200));
    let e = &eval(&tag).unwrap_err()[0];
    assert!(e.tag.chars().count() <= 81 && e.tag.ends_with('…'), "{}", e.tag);
}
