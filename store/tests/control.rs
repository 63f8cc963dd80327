//! XS_CONTROL through the engine: privileged only, `log` switches.

mod common;
use common::*;
use ring::wire::MsgType;

#[test]
fn log_accepts_c_switches_and_our_level() {
    let mut w = World::new();
    let s = w.sock();
    for args in [&["log", "on"][..], &["log", "-io"], &["log", "+wrl"], &["log", "off"], &["log"]] {
        ok(&w.args(s, MsgType::Control, 0, args));
    }
    let before = log::max_level();
    ok(&w.args(s, MsgType::Control, 0, &["log", "level", "debug"]));
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    log::set_max_level(before);
    for bad in [&["log", "+bogus"][..], &["log", "level", "loud"], &["log", "io"]] {
        err(&w.args(s, MsgType::Control, 0, bad), "EINVAL");
    }
}

#[test]
fn control_is_privileged_only() {
    let mut w = World::new();
    let d = w.dom(5);
    err(&w.args(d, MsgType::Control, 0, &["log", "on"]), "EACCES");
    err(&w.args(d, MsgType::Control, 0, &["print", "hi"]), "EACCES");
}
