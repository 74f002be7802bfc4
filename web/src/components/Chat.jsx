// The chat of a booking between its customer and its technician: messages
// live from public.messages (filter booking_id=eq.<id>), sent with an insert,
// and the other party's typing shown from Presence (useTyping).
import { useEffect, useRef, useState } from 'react'
import { useApp } from '../app-context.jsx'
import { useLiveRows } from '../hooks/useLiveRows.js'
import { useTyping } from '../hooks/useTyping.js'
import { byCreatedAsc, clock } from '../lib/format.js'
import { errorText } from '../lib/errors.js'
import { LiveStatus } from './LiveStatus.jsx'

export function Chat({ bookingId, names = {}, canWrite = true }) {
  const { supabase, uid, must, reportError } = useApp()
  const [draft, setDraft] = useState('')
  const [sending, setSending] = useState(false)
  const [sendError, setSendError] = useState(null)
  const listRef = useRef(null)

  const messages = useLiveRows(
    {
      topic: `chat:${bookingId}`,
      table: 'messages',
      filter: `booking_id=eq.${bookingId}`,
      load: () =>
        must(
          supabase.from('messages').select('*').eq('booking_id', bookingId)
            .order('created_at', { ascending: true }).limit(500),
        ),
      order: byCreatedAsc,
    },
    [bookingId],
  )
  const { typingNames, notifyTyping, stopTyping, error: typingError } = useTyping(bookingId, canWrite)

  // Keep the newest message in view, scrolling the list only (not the page).
  useEffect(() => {
    const el = listRef.current
    if (el) el.scrollTop = el.scrollHeight
  }, [messages.rows.length])

  async function send(e) {
    e.preventDefault()
    const body = draft.trim()
    if (!body || sending) return
    setSending(true)
    setSendError(null)
    stopTyping()
    const { error } = await supabase.from('messages').insert({ booking_id: bookingId, sender_id: uid, body })
    setSending(false)
    if (error) {
      setSendError(errorText(error))
      reportError(error, 'Message not sent')
      return
    }
    setDraft('')
    // Live, the INSERT comes back on the channel; without a connection, re-read.
    if (messages.status !== 'live') messages.refresh?.()
  }

  return (
    <section className="card chat" data-testid="chat">
      <div className="card-head">
        <h2>Chat</h2>
        <LiveStatus snap={messages} />
      </div>
      <ol className="messages" data-testid="chat-messages" ref={listRef}>
        {messages.rows.length === 0 && messages.status !== 'loading' && (
          <li className="muted">No messages yet. Say hello.</li>
        )}
        {messages.rows.map((m) => {
          const mine = m.sender_id === uid
          return (
            <li
              key={m.id}
              className={mine ? 'message mine' : 'message'}
              data-testid="chat-message"
              data-id={m.id}
              data-mine={mine ? 'true' : 'false'}
            >
              <span className="who">{mine ? 'You' : names[m.sender_id]?.full_name || 'Them'}</span>
              <span className="body">{m.body}</span>
              <time className="at">{clock(m.created_at)}</time>
            </li>
          )
        })}
      </ol>
      <p className="typing" data-testid="typing-indicator" aria-live="polite">
        {typingNames.length > 0 ? `${typingNames.join(' and ')} ${typingNames.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      {typingError && <p className="error small">Typing indicator unavailable: {typingError}</p>}
      {canWrite && (
        <form className="chat-form" onSubmit={send}>
          <label htmlFor={`chat-input-${bookingId}`} className="inline-label">Message</label>
          <input
            id={`chat-input-${bookingId}`}
            data-testid="chat-input"
            value={draft}
            maxLength={4000}
            placeholder="Write a message"
            autoComplete="off"
            onChange={(e) => {
              setDraft(e.target.value)
              if (e.target.value) notifyTyping()
              else stopTyping()
            }}
            onBlur={stopTyping}
          />
          <button type="submit" data-testid="chat-send" disabled={sending || !draft.trim()}>
            {sending ? 'Sending…' : 'Send'}
          </button>
        </form>
      )}
      {sendError && <p className="error" data-testid="chat-error">{sendError}</p>}
    </section>
  )
}
