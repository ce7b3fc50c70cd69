package httpapi

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
)

// The handlers of the uploads operations (registered in routes.go). Like the
// accounts handlers they only translate: HTTP in, app.Uploads calls, HTTP
// out. Every operation needs a session and acts on the signed-in user's
// uploads only; the bytes never pass through here (the client PUTs them to
// the presigned URL and downloads from one).

// Upload is one upload as the API shows it.
type Upload struct {
	ID          string      `json:"id" format:"uuid" example:"01972b5e-6c3a-7b1d-9f2e-4a5b6c7d8e9f" doc:"The upload's id."`
	Filename    string      `json:"filename" example:"holiday.png" doc:"The declared file name, cleaned for display (no directories or control characters). It is never used to store the file."`
	ContentType string      `json:"content_type" example:"image/png" doc:"The declared media type, normalised. An accepted file's contents have been checked to be of this type."`
	SizeBytes   int64       `json:"size_bytes" example:"48213" doc:"The declared size in bytes: the presigned PUT accepts exactly this many."`
	Status      string      `json:"status" enum:"pending,scanning,accepted,rejected,failed,expired" doc:"pending: waiting for the file and for complete. scanning: the file is being scanned for malware. accepted: clean and of its declared type; it can be downloaded. rejected: malware was found, or the contents are not of the declared type. failed: the file could not be scanned or verified. expired: never completed in time. Only accepted uploads can be downloaded."`
	Scan        *ScanResult `json:"scan" doc:"The outcome of the scan, once the upload is accepted, rejected or failed; null before (and for expired uploads)."`
	CreatedAt   time.Time   `json:"created_at" doc:"When the upload was declared (RFC 3339, UTC)."`
	UpdatedAt   time.Time   `json:"updated_at" doc:"When the upload last changed (RFC 3339, UTC)."`
}

// ScanResult is what the user is told about the scan of an upload.
type ScanResult struct {
	_           struct{}  `nullable:"true"`
	Result      string    `json:"result" example:"THREATS_FOUND" doc:"The malware scanner's result: NO_THREATS_FOUND, THREATS_FOUND, UNSUPPORTED, ACCESS_DENIED or FAILED; empty when the upload was settled without one (e.g. the scan never came)."`
	Code        string    `json:"code" example:"threats_found" doc:"Empty for an accepted upload; otherwise a stable snake_case reason it was not accepted: threats_found, content_type_mismatch, scan_unsupported, scan_access_denied, scan_failed, object_mismatch."`
	Threats     []string  `json:"threats" nullable:"false" example:"[\"EICAR-Test-File (not a virus)\"]" doc:"The names of the malware found; empty unless result is THREATS_FOUND."`
	Reason      string    `json:"reason" example:"Malware was found in the file." doc:"Why the upload was not accepted, in a sentence fit to show the user; empty for an accepted upload."`
	CompletedAt time.Time `json:"completed_at" doc:"When the upload was settled (RFC 3339, UTC)."`
}

func uploadOf(u domain.Upload) Upload {
	out := Upload{
		ID:          u.ID,
		Filename:    u.Filename,
		ContentType: u.ContentType,
		SizeBytes:   u.SizeBytes,
		Status:      string(u.Status),
		CreatedAt:   u.CreatedAt.UTC(),
		UpdatedAt:   u.UpdatedAt.UTC(),
	}
	if r := u.Scan; r != nil {
		out.Scan = &ScanResult{
			Result:      r.Result,
			Code:        r.Code,
			Threats:     append([]string{}, r.Threats...),
			Reason:      r.Reason,
			CompletedAt: r.CompletedAt.UTC(),
		}
	}
	return out
}

// NewUploadRequest declares a file the client is about to upload.
type NewUploadRequest struct {
	Filename    string `json:"filename" example:"holiday.png" doc:"The file's name, for display only. Its extension, if any, must fit the content type."`
	ContentType string `json:"content_type" example:"image/png" doc:"The file's media type; it must be one the service accepts. The PUT must send exactly this Content-Type, and the accepted file's contents must be of this type."`
	SizeBytes   int64  `json:"size_bytes" example:"48213" doc:"The file's exact size in bytes, at least 1 and at most the service's limit."`
	SHA256      string `json:"sha256,omitempty" example:"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" doc:"Optional: the SHA-256 of the file, as 64 hexadecimal digits. When given, the PUT is refused unless the bytes have exactly this digest."`
}

// PresignedPut is the request that sends an upload's bytes straight to the
// object store.
type PresignedPut struct {
	URL       string            `json:"url" format:"uri" doc:"Where to send the file. Use it as is; it carries its own authorisation, so send no cookie or Authorization header."`
	Method    string            `json:"method" enum:"PUT" doc:"Always PUT."`
	Headers   map[string]string `json:"headers" example:"{\"Content-Type\":\"image/png\"}" doc:"Headers the PUT must carry with exactly these values (at least Content-Type). The body must be exactly size_bytes long; other lengths, types or, with sha256, other bytes are refused."`
	ExpiresAt time.Time         `json:"expires_at" doc:"When the URL stops working (RFC 3339, UTC); declare the upload again after that."`
}

// CreatedUpload is the answer to declaring an upload.
type CreatedUpload struct {
	Upload Upload       `json:"upload"`
	Put    PresignedPut `json:"put"`
}

// UploadList is one page of the signed-in user's uploads.
type UploadList struct {
	Items      []Upload `json:"items" nullable:"false" doc:"The uploads, newest first; empty when there are none."`
	NextCursor *string  `json:"next_cursor" doc:"Pass as cursor to get the next page; null on the last page."`
}

// DownloadLink is a short-lived link to an accepted file.
type DownloadLink struct {
	URL       string    `json:"url" format:"uri" doc:"A GET of the file, offered as an attachment under its file name with its content type. It carries its own authorisation: send no cookie or Authorization header."`
	ExpiresAt time.Time `json:"expires_at" doc:"When the link stops working (RFC 3339, UTC); ask for a new one after that."`
}

type createUploadInput struct{ Body NewUploadRequest }

type createUploadOutput struct {
	Location string `header:"Location" doc:"The path of the new upload."`
	Body     CreatedUpload
}

type uploadIDInput struct {
	ID string `path:"id" doc:"The upload's id. An id that is malformed, unknown, deleted or another user's is 404 not_found, whichever it is."`
}

type listUploadsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"The most uploads to return, 1 to 100."`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page; omit for the first page. Anything else is 422 invalid_cursor."`
}

type uploadOutput struct{ Body Upload }

type uploadListOutput struct{ Body UploadList }

type downloadOutput struct{ Body DownloadLink }

// errUploadNotFound is the one answer for an upload the user cannot see,
// whatever the reason (malformed id, unknown, deleted, someone else's), so
// that nothing tells those apart.
func errUploadNotFound(cause error) error {
	return &domain.Error{Kind: domain.KindNotFound, Code: "not_found", Op: "httpapi.uploads", Msg: "The upload does not exist.", Err: cause}
}

// uploadErr maps every not-found from the use cases to errUploadNotFound.
func uploadErr(err error) error {
	if domain.IsKind(err, domain.KindNotFound) {
		return errUploadNotFound(err)
	}
	return err
}

// owner returns the signed-in user's id and checks the path id: a
// malformed one is refused as not found before anything is looked up.
func owner(ctx context.Context, id string) (string, error) {
	p, _ := PrincipalFrom(ctx)
	if !domain.ValidID(id) {
		return "", errUploadNotFound(nil)
	}
	return p.User.ID, nil
}

func (s *Server) createUpload(ctx context.Context, in *createUploadInput) (*createUploadOutput, error) {
	p, _ := PrincipalFrom(ctx)
	c, err := s.uploads.Create(ctx, p.User.ID, app.NewUploadRequest{
		Filename:    in.Body.Filename,
		ContentType: in.Body.ContentType,
		SizeBytes:   in.Body.SizeBytes,
		SHA256:      in.Body.SHA256,
	})
	if err != nil {
		return nil, err
	}
	headers := make(map[string]string, len(c.Put.Headers))
	for k, v := range c.Put.Headers {
		headers[k] = v
	}
	return &createUploadOutput{
		Location: "/v1/uploads/" + c.Upload.ID,
		Body: CreatedUpload{
			Upload: uploadOf(c.Upload),
			Put: PresignedPut{
				URL:       c.Put.URL,
				Method:    c.Put.Method,
				Headers:   headers,
				ExpiresAt: c.Put.ExpiresAt.UTC(),
			},
		},
	}, nil
}

// completeUpload answers with the upload as it is after complete. Completing
// an upload that has already moved past pending (a retried request, or a
// verdict that arrived first) is not an error: the client learns where the
// upload is, as from GET.
func (s *Server) completeUpload(ctx context.Context, in *uploadIDInput) (*uploadOutput, error) {
	ownerID, err := owner(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	u, err := s.uploads.Complete(ctx, ownerID, in.ID)
	if err != nil {
		return nil, uploadErr(err)
	}
	return &uploadOutput{Body: uploadOf(u)}, nil
}

// getUpload answers with the upload the auth middleware read along with
// the session (prefetchUpload).
func (s *Server) getUpload(ctx context.Context, _ *uploadIDInput) (*uploadOutput, error) {
	u, err := prefetchedUpload(ctx)
	if err != nil {
		return nil, err
	}
	return &uploadOutput{Body: uploadOf(u)}, nil
}

func (s *Server) listUploads(ctx context.Context, in *listUploadsInput) (*uploadListOutput, error) {
	p, _ := PrincipalFrom(ctx)
	page, err := s.uploads.List(ctx, p.User.ID, in.Limit, in.Cursor)
	if err != nil {
		return nil, err
	}
	out := &uploadListOutput{Body: UploadList{Items: make([]Upload, 0, len(page.Uploads))}}
	for _, u := range page.Uploads {
		out.Body.Items = append(out.Body.Items, uploadOf(u))
	}
	if page.NextCursor != "" {
		next := page.NextCursor
		out.Body.NextCursor = &next
	}
	return out, nil
}

func (s *Server) downloadUpload(ctx context.Context, in *uploadIDInput) (*downloadOutput, error) {
	ownerID, err := owner(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	d, err := s.uploads.Download(ctx, ownerID, in.ID)
	if err != nil {
		return nil, uploadErr(err)
	}
	return &downloadOutput{Body: DownloadLink{URL: d.URL, ExpiresAt: d.ExpiresAt.UTC()}}, nil
}

func (s *Server) deleteUpload(ctx context.Context, in *uploadIDInput) (*struct{}, error) {
	ownerID, err := owner(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return noContent(uploadErr(s.uploads.Delete(ctx, ownerID, in.ID)))
}
