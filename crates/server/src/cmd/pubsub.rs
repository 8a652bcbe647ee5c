//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB's subcommands. The registry and the
//! delivery of messages are in `crate::pubsub`.

use redoubt_engine::{CmdError, CmdResult};

use crate::dispatch::{Call, ServerCommand};
use crate::pubsub::{self, Kind, Origin};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "subscribe", handler: subscribe },
    ServerCommand { name: "psubscribe", handler: psubscribe },
    ServerCommand { name: "ssubscribe", handler: ssubscribe },
    ServerCommand { name: "unsubscribe", handler: unsubscribe },
    ServerCommand { name: "punsubscribe", handler: punsubscribe },
    ServerCommand { name: "sunsubscribe", handler: sunsubscribe },
    ServerCommand { name: "publish", handler: publish },
    ServerCommand { name: "spublish", handler: spublish },
    ServerCommand { name: "pubsub|channels", handler: pubsub_channels },
    ServerCommand { name: "pubsub|shardchannels", handler: pubsub_shardchannels },
    ServerCommand { name: "pubsub|numsub", handler: pubsub_numsub },
    ServerCommand { name: "pubsub|shardnumsub", handler: pubsub_shardnumsub },
    ServerCommand { name: "pubsub|numpat", handler: pubsub_numpat },
    ServerCommand { name: "pubsub|help", handler: pubsub_help },
];

/// (P|S)SUBSCRIBE. Inside EXEC, where Redis denies blocking, SUBSCRIBE and PSUBSCRIBE
/// are still allowed (for backward compatibility, Redis says) but SSUBSCRIBE is not.
fn subscribe_to(c: &mut Call, kind: Kind) -> CmdResult {
    if kind == Kind::Shard && crate::multi::denies_blocking(c.state) {
        return Err(CmdError::Static("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client"));
    }
    for name in c.args.iter().skip(1) {
        pubsub::subscribe(c.server, c.state, c.client, kind, name, c.out);
    }
    Ok(())
}

/// (P|S)UNSUBSCRIBE, from the names given or from all.
fn unsubscribe_from(c: &mut Call, kind: Kind) -> CmdResult {
    if c.args.len() == 1 {
        pubsub::unsubscribe_all(c.server, c.state, c.client, kind, Some(c.out));
    } else {
        for name in c.args.iter().skip(1) {
            pubsub::unsubscribe(c.server, c.state, c.client, kind, name, Some(c.out));
        }
    }
    Ok(())
}

fn subscribe(c: &mut Call) -> CmdResult {
    subscribe_to(c, Kind::Channel)
}

fn psubscribe(c: &mut Call) -> CmdResult {
    subscribe_to(c, Kind::Pattern)
}

fn ssubscribe(c: &mut Call) -> CmdResult {
    subscribe_to(c, Kind::Shard)
}

fn unsubscribe(c: &mut Call) -> CmdResult {
    unsubscribe_from(c, Kind::Channel)
}

fn punsubscribe(c: &mut Call) -> CmdResult {
    unsubscribe_from(c, Kind::Pattern)
}

fn sunsubscribe(c: &mut Call) -> CmdResult {
    unsubscribe_from(c, Kind::Shard)
}

/// PUBLISH and SPUBLISH: deliver, then propagate to replicas (Redis forces the
/// propagation of both outside cluster mode), then reply with the receivers.
fn publish_to(c: &mut Call, kind: Kind) -> CmdResult {
    let mut origin = Origin { client_id: c.client.id, at: c.out.len(), out: &mut *c.out };
    let receivers = pubsub::publish(c.server, kind, c.args.get(1), c.args.get(2), Some(&mut origin));
    crate::multi::propagate(c.server, c.state, c.args);
    c.out.int(receivers as i64);
    Ok(())
}

fn publish(c: &mut Call) -> CmdResult {
    publish_to(c, Kind::Channel)
}

fn spublish(c: &mut Call) -> CmdResult {
    publish_to(c, Kind::Shard)
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern].
fn list_names(c: &mut Call, kind: Kind) -> CmdResult {
    if c.args.len() > 3 {
        return Err(redoubt_engine::cmd::subcommand_syntax_error(c.args));
    }
    let pattern = (c.args.len() == 3).then(|| c.args.get(2));
    let names = c.server.pubsub.names(kind, pattern);
    c.out.array(names.len());
    for n in &names {
        c.out.bulk(n);
    }
    Ok(())
}

/// PUBSUB NUMSUB / SHARDNUMSUB [name ...]: name, count pairs (an array in RESP3 too,
/// as in Redis 7.0).
fn count_subscribers(c: &mut Call, kind: Kind) -> CmdResult {
    c.out.array((c.args.len() - 2) * 2);
    for name in c.args.iter().skip(2) {
        c.out.bulk(name);
        c.out.int(c.server.pubsub.subscribers(kind, name) as i64);
    }
    Ok(())
}

fn pubsub_channels(c: &mut Call) -> CmdResult {
    list_names(c, Kind::Channel)
}

fn pubsub_shardchannels(c: &mut Call) -> CmdResult {
    list_names(c, Kind::Shard)
}

fn pubsub_numsub(c: &mut Call) -> CmdResult {
    count_subscribers(c, Kind::Channel)
}

fn pubsub_shardnumsub(c: &mut Call) -> CmdResult {
    count_subscribers(c, Kind::Shard)
}

fn pubsub_numpat(c: &mut Call) -> CmdResult {
    c.out.int(c.server.pubsub.count(Kind::Pattern) as i64);
    Ok(())
}

fn pubsub_help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
