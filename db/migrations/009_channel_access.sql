-- Private channels are authorized as supabase/realtime does it: by the RLS
-- policies on realtime.messages, with realtime.topic() returning the
-- channel's topic. A SELECT policy that lets the user see a message of the
-- topic lets them join and receive (per extension: broadcast, presence); an
-- INSERT policy lets them broadcast / track presence.
--
-- realtime.tc_channel_access(topic) answers the four questions in one call.
-- The server runs it as the user's role with request.jwt.claims set, inside
-- a transaction it always rolls back: the probe rows never stay.

-- Inserts one probe message per extension, whatever the caller's policies
-- (the read check needs rows to look at).
create or replace function realtime.tc_probe(p_topic text, p_event text) returns void
language sql volatile security definer set search_path = '' as $$
  insert into realtime.messages (topic, extension, private, event, payload)
  values (p_topic, 'broadcast', true, p_event, '{}'), (p_topic, 'presence', true, p_event, '{}')
$$;
revoke execute on function realtime.tc_probe(text, text) from public;

-- Runs as the caller (SECURITY INVOKER), so the caller's policies decide.
create or replace function realtime.tc_channel_access(p_topic text,
  out read_broadcast boolean, out read_presence boolean,
  out write_broadcast boolean, out write_presence boolean)
language plpgsql volatile set search_path = '' as $$
declare
  probe text := 'tc_probe_' || extensions.gen_random_uuid()::text;
begin
  perform set_config('realtime.topic', p_topic, true);
  perform realtime.tc_probe(p_topic, probe);
  select coalesce(bool_or(m.extension = 'broadcast'), false), coalesce(bool_or(m.extension = 'presence'), false)
    into read_broadcast, read_presence
    from realtime.messages m where m.topic = p_topic and m.event = probe;
  write_broadcast := true;
  write_presence := true;
  begin
    insert into realtime.messages (topic, extension, private, event, payload)
    values (p_topic, 'broadcast', true, probe, '{}');
  exception when insufficient_privilege then
    write_broadcast := false;
  end;
  begin
    insert into realtime.messages (topic, extension, private, event, payload)
    values (p_topic, 'presence', true, probe, '{}');
  exception when insufficient_privilege then
    write_presence := false;
  end;
end
$$;
revoke execute on function realtime.tc_channel_access(text) from public;
grant execute on function realtime.tc_probe(text, text), realtime.tc_channel_access(text)
  to anon, authenticated, service_role;
