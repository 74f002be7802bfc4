import { lazy, Suspense } from 'react'
import { Navigate, Route, Routes } from 'react-router'
import { homeFor, useApp } from './app-context.jsx'
import { Layout } from './components/Layout.jsx'
import { Login } from './pages/Login.jsx'

// Each role's screens are a chunk of their own.
const named = (load, name) => lazy(() => load().then((m) => ({ default: m[name] })))
const CustomerHome = named(() => import('./pages/customer/CustomerHome.jsx'), 'CustomerHome')
const BookingTracker = named(() => import('./pages/customer/BookingTracker.jsx'), 'BookingTracker')
const TechnicianHome = named(() => import('./pages/technician/TechnicianHome.jsx'), 'TechnicianHome')
const JobPage = named(() => import('./pages/technician/JobPage.jsx'), 'JobPage')
const AdminHome = named(() => import('./pages/admin/AdminHome.jsx'), 'AdminHome')
const AdminBooking = named(() => import('./pages/admin/AdminBooking.jsx'), 'AdminBooking')

// Signed in, role known, realtime connection created: the app's frame.
// Otherwise /login (keeping no screen mounted, so nothing subscribes).
function SignedIn() {
  const { ready, session, role, rt } = useApp()
  if (!ready) return <p className="splash">Loading…</p>
  if (!session) return <Navigate to="/login" replace />
  if (!role || !rt) return <p className="splash">Connecting…</p>
  return <Layout />
}

function RequireRole({ role, children }) {
  const { role: mine } = useApp()
  if (mine !== role) return <Navigate to={homeFor(mine)} replace />
  return <Suspense fallback={<p className="splash">Loading…</p>}>{children}</Suspense>
}

function Home() {
  const { ready, session, role } = useApp()
  if (!ready) return <p className="splash">Loading…</p>
  return <Navigate to={session && role ? homeFor(role) : '/login'} replace />
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route element={<SignedIn />}>
        <Route path="/customer" element={<RequireRole role="customer"><CustomerHome /></RequireRole>} />
        <Route path="/customer/bookings/:id" element={<RequireRole role="customer"><BookingTracker /></RequireRole>} />
        <Route path="/technician" element={<RequireRole role="technician"><TechnicianHome /></RequireRole>} />
        <Route path="/technician/jobs/:id" element={<RequireRole role="technician"><JobPage /></RequireRole>} />
        <Route path="/admin" element={<RequireRole role="admin"><AdminHome /></RequireRole>} />
        <Route path="/admin/bookings/:id" element={<RequireRole role="admin"><AdminBooking /></RequireRole>} />
      </Route>
      <Route path="*" element={<Home />} />
    </Routes>
  )
}
